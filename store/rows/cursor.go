package rows

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrCursorInvalid is a rows cursor whose position cannot be a position of this plan: its keys
// do not match the plan's sort keys in count or type, or hold values the query cannot take. A
// cursor the server signed never is one; a forged or buggy one must not reach SQL.
var ErrCursorInvalid = errors.New("the cursor does not fit these rows")

// Bounds of a rows cursor, far above anything the engine issues.
const (
	maxCursorKeys        = 1000 // columns per panel are capped at 1,000
	maxCursorGenerations = 1000
	maxCursorValue       = 1 << 16
)

// pgNumber is a number as float8's text output writes it ("1.5", "-0", "1e+300"), or numeric's
// (plain digits), which cursors issued before the engine typed numbers as float8 hold.
var pgNumber = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?(e[-+][0-9]+)?$`)

// isFloat8 accepts the texts float8 input reads without a range error, exactly as the cursor's
// key compares: finite, and not a non-zero value that only rounds to zero.
func isFloat8(s string) bool {
	if !pgNumber.MatchString(s) {
		return false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return false
	}
	mantissa, _, _ := strings.Cut(s, "e")
	return f != 0 || strings.Trim(mantissa, "-0.") == ""
}

// Validate checks a rows cursor on its own: sizes, key kinds and value encodings.
func (c *Cursor) Validate() error {
	if len(c.Shape) == 0 || len(c.Shape) > 64 {
		return errors.New("bad shape")
	}
	if len(c.Generations) > maxCursorGenerations || len(c.Keys) > maxCursorKeys {
		return errors.New("too many positions")
	}
	for _, g := range c.Generations {
		if g < 0 {
			return errors.New("bad generation")
		}
	}
	if c.Ord < 0 {
		return errors.New("bad position")
	}
	for i, k := range c.Keys {
		if err := k.validate(); err != nil {
			return fmt.Errorf("key %d: %w", i, err)
		}
	}
	return nil
}

func (k CursorKey) validate() error {
	if len(k.Value) > maxCursorValue || !utf8.ValidString(k.Value) || strings.ContainsRune(k.Value, 0) {
		return errors.New("bad value")
	}
	var err error
	switch k.Kind {
	case "":
		if k.Value != "" {
			err = errors.New("null with a value")
		}
	case "q", "s":
	case "n":
		var f float64
		if f, err = strconv.ParseFloat(k.Value, 64); err == nil && (math.IsInf(f, 0) || math.IsNaN(f)) {
			err = errors.New("not a finite number")
		}
	case "b":
		_, err = strconv.ParseBool(k.Value)
	case "t":
		var t time.Time
		if t, err = time.Parse(time.RFC3339Nano, k.Value); err == nil && (t.Year() < 1 || t.Year() > 9999) {
			err = errors.New("time out of range")
		}
	default:
		err = errors.New("unknown kind")
	}
	return err
}

// checkCursor checks a cursor against the plan: one key per sort key, of the kind the plan's
// mode issues ("q" in SQL order, a Go kind otherwise), and SQL keys that parse as the sort's type.
func (pl *Plan) checkCursor(c *Cursor) error {
	if c == nil {
		return nil
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrCursorInvalid, err)
	}
	if len(c.Keys) != len(pl.sorts) {
		return fmt.Errorf("%w: %d keys for %d sort keys", ErrCursorInvalid, len(c.Keys), len(pl.sorts))
	}
	for i, k := range c.Keys {
		if k.Kind == "" {
			continue
		}
		if pl.sqlSort != (k.Kind == "q") {
			return fmt.Errorf("%w: key %d of kind %q", ErrCursorInvalid, i, k.Kind)
		}
		if !pl.sqlSort {
			continue
		}
		ok := true
		switch pl.sorts[i].typ {
		case "number":
			ok = isFloat8(k.Value)
		case "boolean":
			ok = k.Value == "true" || k.Value == "false"
		}
		if !ok {
			return fmt.Errorf("%w: key %d is not a %s", ErrCursorInvalid, i, pl.sorts[i].typ)
		}
	}
	return nil
}
