package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// kind is how a setting's value is read into Config and shown in the start-up log line. parse
// gets the trimmed value, or the default when unset, and returns an error that says what it
// wants without naming the variable (the walk prefixes the name).
type kind struct {
	parse func(s Setting, c *Config, v string) error
	show  func(c *Config) string
}

// text takes any string; check, when set, validates a non-empty one.
func text(f func(*Config) *string, check func(v string) error) kind {
	return kind{
		parse: func(_ Setting, c *Config, v string) error {
			if v != "" && check != nil {
				if err := check(v); err != nil {
					return err
				}
			}
			*f(c) = v
			return nil
		},
		show: func(c *Config) string { return *f(c) },
	}
}

// minLength refuses a value shorter than n bytes with msg, a format given the value's length:
// never the value, which may be a secret.
func minLength(n int, msg string) func(string) error {
	return func(v string) error {
		if len(v) < n {
			return fmt.Errorf(msg, len(v))
		}
		return nil
	}
}

// oneOf lower-cases the value and accepts one of the given words.
func oneOf(f func(*Config) *string, want string, words ...string) kind {
	return kind{
		parse: func(_ Setting, c *Config, v string) error {
			v = strings.ToLower(v)
			for _, w := range words {
				if v == w {
					*f(c) = v
					return nil
				}
			}
			return fmt.Errorf("want %s, got %q", want, v)
		},
		show: func(c *Config) string { return *f(c) },
	}
}

func boolean(f func(*Config) *bool) kind {
	return kind{
		parse: func(_ Setting, c *Config, v string) error {
			switch v {
			case "true", "1", "yes":
				*f(c) = true
			case "false", "0", "no":
				*f(c) = false
			default:
				return fmt.Errorf("want true or false, got %q", v)
			}
			return nil
		},
		show: func(c *Config) string { return strconv.FormatBool(*f(c)) },
	}
}

func integer(f func(*Config) *int, lo, hi int, want string) kind {
	return kind{
		parse: func(_ Setting, c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < lo || n > hi {
				return fmt.Errorf("%s, got %q", want, v)
			}
			*f(c) = n
			return nil
		},
		show: func(c *Config) string { return strconv.Itoa(*f(c)) },
	}
}

// rate is requests per second; 0 turns the limit off.
func rate(f func(*Config) *float64) kind {
	return kind{
		parse: func(_ Setting, c *Config, v string) error {
			r, err := strconv.ParseFloat(v, 64)
			if err != nil || r < 0 || math.IsInf(r, 0) || math.IsNaN(r) {
				return fmt.Errorf("want requests per second (a non-negative number; 0 turns the limit off), got %q", v)
			}
			*f(c) = r
			return nil
		},
		show: func(c *Config) string { return strconv.FormatFloat(*f(c), 'g', -1, 64) },
	}
}

// duration takes a non-negative Go duration; want (default: "want a non-negative duration such
// as" the setting's default) explains a refused one, and check, when set, bounds it further.
func duration(f func(*Config) *time.Duration, want string, check func(d time.Duration, v string) error) kind {
	return kind{
		parse: func(s Setting, c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				w := want
				if w == "" {
					w = "want a non-negative duration such as " + s.Default
				}
				return fmt.Errorf("%s, got %q", w, v)
			}
			if check != nil {
				if err := check(d, v); err != nil {
					return err
				}
			}
			*f(c) = d
			return nil
		},
		show: func(c *Config) string { return f(c).String() },
	}
}

// bounding is a duration that must not be zero: zero would leave the server unbounded.
func bounding(f func(*Config) *time.Duration) kind {
	return duration(f, "", func(d time.Duration, _ string) error {
		if d == 0 {
			return fmt.Errorf("must be positive (an unbounded value lets one client hold the server)")
		}
		return nil
	})
}

// size takes a byte count such as 1048576, 1MiB or 2MB within lo..hi.
func size[T int | int64](f func(*Config) *T, lo, hi int64, want string) kind {
	return kind{
		parse: func(_ Setting, c *Config, v string) error {
			n, err := parseBytes(v)
			if err != nil || n < lo || n > hi {
				return fmt.Errorf("%s, got %q", want, v)
			}
			*f(c) = T(n)
			return nil
		},
		show: func(c *Config) string { return strconv.FormatInt(int64(*f(c)), 10) },
	}
}

// list splits a comma-separated value, dropping empty items; check, when set, validates the items.
func list(f func(*Config) *[]string, check func(items []string) error) kind {
	return kind{
		parse: func(_ Setting, c *Config, v string) error {
			var items []string
			for _, it := range strings.Split(v, ",") {
				if it = strings.TrimSpace(it); it != "" {
					items = append(items, it)
				}
			}
			if check != nil {
				if err := check(items); err != nil {
					return err
				}
			}
			*f(c) = items
			return nil
		},
		show: func(c *Config) string { return strings.Join(*f(c), ",") },
	}
}

// schedule takes comma-separated positive durations (at least one), in the order they apply.
func schedule(f func(*Config) *[]time.Duration) kind {
	return kind{
		parse: func(_ Setting, c *Config, v string) error {
			var out []time.Duration
			for _, it := range strings.Split(v, ",") {
				d, err := time.ParseDuration(strings.TrimSpace(it))
				if err != nil || d <= 0 {
					return fmt.Errorf("want comma-separated positive durations such as 5s,30s,2m, got %q", v)
				}
				out = append(out, d)
			}
			*f(c) = out
			return nil
		},
		show: func(c *Config) string {
			items := make([]string, len(*f(c)))
			for i, d := range *f(c) {
				items[i] = d.String()
			}
			return strings.Join(items, ",")
		},
	}
}

// address takes host:port or :port for a listener of its own.
func address(f func(*Config) *string, example string) kind {
	return text(f, func(v string) error {
		if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
			return fmt.Errorf("want host:port or :port such as %s, got %q", example, v)
		}
		return nil
	})
}

// httpURL accepts an absolute http(s) URL with a host.
func httpURL(v string) bool {
	u, err := url.Parse(v)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// serviceURL is the URL of a service the server connects to: one of the schemes, shown without
// its password.
func serviceURL(f func(*Config) *string, want string, schemes ...string) kind {
	k := text(f, schemeURL(want, schemes...))
	k.show = func(c *Config) string { return redactURL(*f(c)) }
	return k
}

// schemeURL accepts a URL of one of the schemes; its error never echoes the value, which may
// hold a password.
func schemeURL(want string, schemes ...string) func(string) error {
	return func(v string) error {
		if u, err := url.Parse(v); err == nil {
			for _, s := range schemes {
				if u.Scheme == s {
					return nil
				}
			}
		}
		return fmt.Errorf("%s", want)
	}
}

// parseBytes reads 1048576, 1MiB, 512KiB, 2MB or 64kB (KB/MB are decimal, KiB/MiB binary).
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"kB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

func mask(s string) string {
	if s == "" {
		return "(unset)"
	}
	return "********"
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable)"
	}
	// pgx also takes the password (and sslpassword) from the query string.
	q := u.Query()
	for k := range q {
		if strings.Contains(strings.ToLower(k), "pass") {
			q[k] = []string{"xxxxx"}
			u.RawQuery = q.Encode()
		}
	}
	return u.Redacted()
}
