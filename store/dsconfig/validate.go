// Package dsconfig validates and masks the per-data-source `config` objects
// of the worklist service.
//
// Configs are decoded JSON (map[string]any); numbers may arrive as float64 or
// json.Number depending on the decoder, so both are accepted everywhere.
// Keys the rules do not mention are always allowed and kept as given.
//
// Secrets never leave the service in clear text: Masked replaces them with
// maskText for display, and MergeMasked puts the stored secrets back when a
// client saves a config it read in masked form.
package dsconfig

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Problem is one reason a config is invalid. Field is the dotted path of the
// offending value, e.g. "config.url" or "config.headers.X-Api-Key".
type Problem struct {
	Field  string
	Reason string
}

// Validate checks cfg for the given data source type and returns every
// problem, or nil when cfg is valid. An unknown type yields a single problem
// on field "type". A null value counts as absent.
func Validate(typ string, cfg map[string]any) []Problem {
	v := validator{cfg: cfg}
	switch typ {
	case "api":
		v.api()
	case "database":
		v.database()
	case "file":
		v.file()
	case "custom":
		// Custom sources are interpreted by their own plugin.
	default:
		v.add("type", fmt.Sprintf("unknown data source type %q", typ))
	}
	return v.problems
}

type validator struct {
	cfg      map[string]any
	problems []Problem
}

func (v *validator) add(field, reason string) {
	v.problems = append(v.problems, Problem{Field: field, Reason: reason})
}

// get returns the value of a config key, treating null as absent.
func (v *validator) get(key string) (any, bool) {
	val, ok := v.cfg[key]
	return val, ok && val != nil
}

// str returns the string at key; ok is false when the key is absent or (after
// recording a problem) not a string.
func (v *validator) str(key string) (s string, ok bool) {
	val, present := v.get(key)
	if !present {
		return "", false
	}
	s, ok = val.(string)
	if !ok {
		v.add("config."+key, "must be a string")
	}
	return s, ok
}

func (v *validator) requiredStr(key string) (string, bool) {
	if _, present := v.get(key); !present {
		v.add("config."+key, "is required")
		return "", false
	}
	return v.str(key)
}

func (v *validator) api() {
	// Forms send unused inputs as "", so an empty url or endpoint counts as
	// not set when deciding which of the two was chosen.
	isSet := func(key string) bool {
		val, ok := v.get(key)
		return ok && val != ""
	}
	switch hasURL, hasEndpoint := isSet("url"), isSet("endpoint"); {
	case hasURL && hasEndpoint:
		v.add("config.url", "set either url or endpoint, not both")
	case !hasURL && !hasEndpoint:
		v.add("config.url", "url or endpoint is required")
	}
	if s, ok := v.str("url"); ok && s != "" {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			v.add("config.url", "must be an absolute http or https URL with a host")
		}
	}
	if s, ok := v.str("endpoint"); ok && s != "" {
		// "//host/path" would be resolved as a different host, not a path.
		if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") {
			v.add("config.endpoint", "must be a path starting with /")
		}
	}
	if s, ok := v.str("method"); ok && s != "GET" && s != "POST" {
		v.add("config.method", `must be "GET" or "POST"`)
	}
	if h, ok := v.get("headers"); ok {
		if m, isMap := h.(map[string]any); !isMap {
			v.add("config.headers", "must be an object")
		} else {
			for _, name := range slices.Sorted(maps.Keys(m)) {
				if _, isStr := m[name].(string); !isStr {
					v.add("config.headers."+name, "must be a string")
				}
			}
		}
	}
	if s, ok := v.str("recordsPath"); ok && !validPointer(s) {
		v.add("config.recordsPath", `must be a JSON pointer ("" or starting with /)`)
	}
	if s, ok := v.str("keyField"); ok && s == "" {
		v.add("config.keyField", "must not be empty")
	}
	if t, ok := v.get("timeoutMs"); ok {
		if n, isInt := integer(t); !isInt || n < 1 || n > 120000 {
			v.add("config.timeoutMs", "must be an integer between 1 and 120000")
		}
	}
}

func (v *validator) database() {
	if s, ok := v.requiredStr("connectionString"); ok && !validConnString(s) {
		v.add("config.connectionString",
			"must be a postgres:// or postgresql:// URL or a key=value string with host")
	}
	if s, ok := v.requiredStr("query"); ok && strings.TrimSpace(s) == "" {
		v.add("config.query", "must not be empty")
	}
	v.str("keyField") // any string, unlike api where it must be non-empty
	if r, ok := v.get("refreshInterval"); ok {
		valid := false
		if s, isStr := r.(string); isStr {
			d, err := time.ParseDuration(s)
			valid = err == nil && d >= 0
		} else if n, isInt := integer(r); isInt {
			valid = n >= 0
		}
		if !valid {
			v.add("config.refreshInterval",
				`must be an integer >= 0 or a duration such as "5m"`)
		}
	}
}

func (v *validator) file() {
	if s, ok := v.requiredStr("format"); ok && s != "csv" && s != "json" && s != "ndjson" {
		v.add("config.format", "must be one of csv, json, ndjson")
	}
	v.str("keyField") // any string, unlike api where it must be non-empty
	if s, ok := v.str("delimiter"); ok && utf8.RuneCountInString(s) != 1 {
		v.add("config.delimiter", "must be exactly one character")
	}
}

// integer reports whether v is a JSON number with no fractional part.
func integer(v any) (float64, bool) {
	var f float64
	switch n := v.(type) {
	case float64:
		f = n
	case json.Number:
		var err error
		if f, err = n.Float64(); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	return f, f == math.Trunc(f) && !math.IsInf(f, 0)
}

// validPointer checks RFC 6901 syntax: "~" may only start "~0" or "~1".
func validPointer(s string) bool {
	if s != "" && s[0] != '/' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '~' && (i+1 == len(s) || (s[i+1] != '0' && s[i+1] != '1')) {
			return false
		}
	}
	return true
}

func validConnString(s string) bool {
	if hasScheme(s) {
		u, err := url.Parse(s)
		return err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql")
	}
	pairs, err := parseKeyValues(s)
	return err == nil && slices.ContainsFunc(pairs, func(p kvPair) bool { return p.key == "host" })
}
