package dsconfig

import "regexp"

// maskText replaces secret values in configs shown to clients.
const maskText = "********"

var secretKeyPattern = regexp.MustCompile(`(?i)pass|secret|token|key|authorization`)

// isSecretKey reports whether a config key name holds a secret, i.e. its
// name contains pass, secret, token, key or authorization in any case.
// "keyField" names a record field, not a secret, and is exempt.
//
// Values under "headers" and the password inside "connectionString" are
// secret as well but are not covered here, since only part of those values
// is secret; log Masked(cfg) rather than filtering keys by hand.
func isSecretKey(name string) bool {
	return name != "keyField" && secretKeyPattern.MatchString(name)
}

// position says how the value under a config key is treated.
type position int

const (
	plain      position = iota
	secretKey           // the whole value is secret
	headers             // every value of the object is secret
	connString          // the password inside the string is secret
)

// positionOf applies at every depth, so secrets nested in custom configs
// are protected too.
func positionOf(key string) position {
	switch {
	case key == "headers":
		return headers
	case key == "connectionString":
		return connString
	case isSecretKey(key):
		return secretKey
	}
	return plain
}

// unset values are shown as they are: masking them would claim a secret
// exists, and there is nothing to hide.
func unset(v any) bool {
	return v == nil || v == ""
}

// Masked returns a deep copy of cfg with secrets replaced by Mask (see
// isSecretKey). Connection strings keep everything but their password
// readable. A nil cfg gives an empty map.
func Masked(cfg map[string]any) map[string]any {
	out := make(map[string]any, len(cfg))
	for k, v := range cfg {
		out[k] = maskEntry(k, v)
	}
	return out
}

func maskEntry(key string, v any) any {
	if unset(v) {
		return v
	}
	switch positionOf(key) {
	case secretKey:
		return maskText
	case headers:
		h, ok := v.(map[string]any)
		if !ok {
			return maskText // unknown shape: hide it all rather than guess
		}
		out := make(map[string]any, len(h))
		for name, hv := range h {
			out[name] = hv
			if !unset(hv) {
				out[name] = maskText
			}
		}
		return out
	case connString:
		if s, ok := v.(string); ok {
			return maskConn(s)
		}
		return maskText
	}
	return maskValue(v)
}

func maskValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return Masked(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = maskValue(e)
		}
		return out
	}
	return v
}

// MergeMasked returns the config to store when a client sends incoming back
// after reading Masked(stored). Wherever incoming holds exactly Mask at a
// secret position and stored has a value there, the stored value is kept; a
// connection string whose password is Mask gets the stored password back,
// even if its other parts changed. Everything else comes from incoming.
//
// Array elements are matched by index, as clients echo arrays in order.
func MergeMasked(incoming, stored map[string]any) map[string]any {
	out := make(map[string]any, len(incoming))
	for k, v := range incoming {
		out[k] = mergeEntry(k, v, stored[k])
	}
	return out
}

func mergeEntry(key string, in, stored any) any {
	pos := positionOf(key)
	if pos != plain && in == maskText && !unset(stored) {
		return clone(stored)
	}
	switch pos {
	case secretKey:
		return clone(in)
	case headers:
		inH, ok := in.(map[string]any)
		if !ok {
			return clone(in)
		}
		storedH, _ := stored.(map[string]any)
		out := make(map[string]any, len(inH))
		for name, v := range inH {
			out[name] = clone(v)
			if v == maskText && !unset(storedH[name]) {
				out[name] = clone(storedH[name])
			}
		}
		return out
	case connString:
		inS, ok1 := in.(string)
		storedS, ok2 := stored.(string)
		if ok1 && ok2 {
			return mergeConn(inS, storedS)
		}
		return clone(in)
	}
	return mergeValue(in, stored)
}

func mergeValue(in, stored any) any {
	switch in := in.(type) {
	case map[string]any:
		storedM, _ := stored.(map[string]any)
		return MergeMasked(in, storedM)
	case []any:
		storedA, _ := stored.([]any)
		out := make([]any, len(in))
		for i, e := range in {
			var s any
			if i < len(storedA) {
				s = storedA[i]
			}
			out[i] = mergeValue(e, s)
		}
		return out
	}
	return in
}

// clone deep-copies decoded JSON so results never share maps or slices with
// the caller's values.
func clone(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = clone(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = clone(e)
		}
		return out
	}
	return v
}
