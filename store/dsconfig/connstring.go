package dsconfig

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Connection strings come in the two forms libpq accepts:
//
//	postgres://user:password@host:5432/db?sslmode=require
//	host=db port=5432 user=app password='s3 cret'
//
// Secrets are located as byte spans of the original text and replaced in
// place, so that everything else keeps the exact spelling the user typed
// (url.URL.String would, for example, re-escape the "*" of Mask).

type secretKind int

const (
	inUserinfo secretKind = iota // postgres://user:HERE@host
	inQuery                      // postgres://host/db?password=HERE
	inKeyValue                   // password=HERE
)

// secret is one secret value inside a connection string.
type secret struct {
	name       string // "password" for the URL userinfo, else the parameter name
	value      string // decoded
	start, end int    // raw text, including any quotes
	kind       secretKind
}

// connSecrets locates the non-empty secret values of a connection string. It
// returns ok == false when s cannot be parsed; callers must then treat the
// whole string as secret, since they cannot know where a password hides.
func connSecrets(s string) (secrets []secret, ok bool) {
	if !hasScheme(s) {
		pairs, err := parseKeyValues(s)
		if err != nil {
			return nil, false
		}
		for _, p := range pairs {
			if isSecretKey(p.key) && p.value != "" {
				secrets = append(secrets, secret{p.key, p.value, p.start, p.end, inKeyValue})
			}
		}
		return secrets, true
	}
	if _, err := url.Parse(s); err != nil {
		return nil, false
	}
	// Split the raw text the way url.Parse does: fragment, then query, then
	// the authority runs from "//" to the next "/".
	body, _, _ := strings.Cut(s, "#")
	hier, query, hasQuery := strings.Cut(body, "?")
	authStart := strings.Index(hier, "://") + len("://")
	authority := hier[authStart:]
	if i := strings.IndexByte(authority, '/'); i >= 0 {
		authority = authority[:i]
	}
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		if colon := strings.IndexByte(authority[:at], ':'); colon >= 0 && colon+1 < at {
			raw := authority[colon+1 : at]
			value, err := url.PathUnescape(raw)
			if err != nil {
				value = raw
			}
			secrets = append(secrets, secret{"password", value, authStart + colon + 1, authStart + at, inUserinfo})
		}
	}
	if hasQuery {
		offset := len(hier) + 1
		for param := range strings.SplitSeq(query, "&") {
			rawKey, rawValue, _ := strings.Cut(param, "=")
			key, err1 := url.QueryUnescape(rawKey)
			value, err2 := url.QueryUnescape(rawValue)
			if err1 != nil || err2 != nil {
				key, value = rawKey, rawValue
			}
			if isSecretKey(key) && value != "" {
				start := offset + len(rawKey) + 1
				secrets = append(secrets, secret{key, value, start, start + len(rawValue), inQuery})
			}
			offset += len(param) + 1
		}
	}
	return secrets, true
}

// maskConn replaces every secret of a connection string by Mask.
func maskConn(s string) string {
	secrets, ok := connSecrets(s)
	if !ok {
		return maskText
	}
	return splice(s, secrets, func(secret) (string, bool) { return maskText, true })
}

// mergeConn returns the connection string to store when a client sends
// incoming after reading the masked form of stored.
func mergeConn(incoming, stored string) string {
	if incoming == maskConn(stored) {
		return stored
	}
	inSecrets, ok1 := connSecrets(incoming)
	storedSecrets, ok2 := connSecrets(stored)
	if !ok1 || !ok2 {
		return incoming
	}
	// Other parts (host, database, ...) changed but the password was left
	// masked: keep the stored password in the new string.
	return splice(incoming, inSecrets, func(sec secret) (string, bool) {
		i := slices.IndexFunc(storedSecrets, func(o secret) bool { return o.name == sec.name })
		if sec.value != maskText || i < 0 {
			return "", false
		}
		old := storedSecrets[i]
		if old.kind == sec.kind {
			return stored[old.start:old.end], true
		}
		return encodeSecret(old.value, sec.kind), true
	})
}

// splice rebuilds s with the raw text of each secret replaced by what
// replace returns, or left alone when it returns false.
func splice(s string, secrets []secret, replace func(secret) (string, bool)) string {
	var b strings.Builder
	last := 0
	for _, sec := range secrets {
		if text, ok := replace(sec); ok {
			b.WriteString(s[last:sec.start])
			b.WriteString(text)
			last = sec.end
		}
	}
	b.WriteString(s[last:])
	return b.String()
}

// encodeSecret writes a value for a position of another kind, which happens
// when a client switches between the URL and key=value forms.
func encodeSecret(value string, kind secretKind) string {
	switch kind {
	case inUserinfo:
		return strings.TrimPrefix(url.UserPassword("", value).String(), ":")
	case inQuery:
		return url.QueryEscape(value)
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(value) + "'"
}

// hasScheme reports whether s starts with "scheme://". libpq itself only
// looks for postgres:// and postgresql://; recognising any scheme lets
// validation reject e.g. mysql:// with a clear reason.
func hasScheme(s string) bool {
	i := strings.Index(s, "://")
	if i <= 0 {
		return false
	}
	for j, c := range s[:i] {
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (j == 0 || !('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

type kvPair struct {
	key        string
	value      string // unquoted and unescaped
	start, end int    // raw value, including quotes
}

// parseKeyValues parses a libpq key=value connection string, following
// libpq's rules: whitespace may surround "=", values may be single-quoted,
// and a backslash escapes the next character.
func parseKeyValues(s string) ([]kvPair, error) {
	var pairs []kvPair
	i := 0
	skipSpace := func() {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
	}
	for {
		skipSpace()
		if i == len(s) {
			return pairs, nil
		}
		keyStart := i
		for i < len(s) && s[i] != '=' && !isSpace(s[i]) {
			i++
		}
		key := s[keyStart:i]
		skipSpace()
		if key == "" || i == len(s) || s[i] != '=' {
			return nil, fmt.Errorf("missing \"=\" after %q", key)
		}
		i++
		skipSpace()
		p := kvPair{key: key, start: i}
		quoted := i < len(s) && s[i] == '\''
		if quoted {
			i++
		}
		var value strings.Builder
		for ; i < len(s); i++ {
			c := s[i]
			if quoted && c == '\'' || !quoted && isSpace(c) {
				break
			}
			if c == '\\' && i+1 < len(s) {
				i++
				c = s[i]
			}
			value.WriteByte(c)
		}
		if quoted {
			if i == len(s) {
				return nil, errors.New("unterminated quoted value")
			}
			i++
		}
		p.value, p.end = value.String(), i
		pairs = append(pairs, p)
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}
