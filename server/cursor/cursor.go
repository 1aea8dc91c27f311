// Package cursor is the one implementation of the service's pagination cursors (api.md §2):
// an opaque token that carries a typed position, is signed with HMAC-SHA256 under a server key,
// is bound to its list and scope, and expires.
//
// A token is base64url(body) "." base64url(mac), where body is the JSON {"x": issue time in
// unix seconds, "p": payload} and mac is HMAC-SHA256(key, len-prefixed list, scope and body).
// The list and scope are not in the token: a cursor presented to another list, tenant, panel or
// filter fails its signature like a tampered one.
//
// A verified signature is not trusted blindly: each payload validates its values (Payload), so a
// leaked key or a bug yields a refused cursor, never a panic or an unchecked value in SQL.
package cursor

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Defaults: how long a cursor lives and how far in the future its issue time may lie (clock
// differences between instances).
const (
	DefaultTTL  = 24 * time.Hour
	DefaultSkew = time.Minute
	// MaxLen bounds a token before any decoding (the spec allows 512 characters).
	MaxLen = 4096
)

// Errors of Decode. ErrInvalid covers tampered, foreign, malformed and future cursors and
// payloads that fail validation; ErrExpired a genuine cursor older than its lifetime.
var (
	ErrInvalid = errors.New("not a cursor of this list")
	ErrExpired = errors.New("the cursor has expired")
)

// Payload is a cursor's typed position. Validate runs after the signature is verified and must
// refuse any value the list's query could not take as it is.
type Payload interface {
	Validate() error
}

// derivation separates the cursor key from every other use of the secret it comes from.
const derivation = "panels cursor v1"

// DeriveKey is the cursor key for a configured secret (CURSOR_KEY, else JWT_SECRET):
// HMAC-SHA256(secret, "panels cursor v1"), so a cursor signature is never a token signature.
func DeriveKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(derivation))
	return m.Sum(nil)
}

// RandomKey is a per-process key, for deployments without a configured secret: cursors then do
// not survive a restart and are not honoured by another instance.
func RandomKey() []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic(fmt.Sprintf("cursor: no randomness: %v", err)) // crypto/rand never fails on supported platforms
	}
	return k
}

// Codec signs and verifies cursors with one key.
type Codec struct {
	key  []byte
	TTL  time.Duration
	Skew time.Duration
	Now  func() time.Time
}

// New returns a codec signing with key, with the default lifetime and skew.
func New(key []byte) *Codec {
	return &Codec{key: bytes.Clone(key), TTL: DefaultTTL, Skew: DefaultSkew, Now: time.Now}
}

type body struct {
	Issued  int64           `json:"x"`
	Payload json.RawMessage `json:"p"`
}

var b64 = base64.RawURLEncoding.Strict()

// MAC is a token's signature: HMAC-SHA256 under key of the length-prefixed list, scope and
// encoded body (exported for tests that must sign arbitrary bodies, as a leaked key would).
func MAC(key []byte, list, scope, encodedBody string) []byte {
	m := hmac.New(sha256.New, key)
	var n [8]byte
	for _, part := range []string{list, scope, encodedBody} {
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		m.Write(n[:])
		m.Write([]byte(part))
	}
	return m.Sum(nil)
}

func (c *Codec) mac(list, scope, encodedBody string) []byte {
	return MAC(c.key, list, scope, encodedBody)
}

// Encode issues a cursor of list and scope holding p, stamped with the current time.
func (c *Codec) Encode(list, scope string, p Payload) string {
	raw, err := json.Marshal(p)
	if err != nil {
		panic(fmt.Sprintf("cursor: payload %T does not marshal: %v", p, err)) // payloads are plain structs
	}
	b, _ := json.Marshal(body{Issued: c.Now().Unix(), Payload: raw})
	enc := b64.EncodeToString(b)
	return enc + "." + b64.EncodeToString(c.mac(list, scope, enc))
}

// Decode verifies raw as a cursor of list and scope and fills into with its payload.
func (c *Codec) Decode(raw, list, scope string, into Payload) error {
	if raw == "" || len(raw) > MaxLen {
		return ErrInvalid
	}
	enc, sig, ok := strings.Cut(raw, ".")
	if !ok {
		return ErrInvalid
	}
	got, err := b64.DecodeString(sig)
	if err != nil || !hmac.Equal(got, c.mac(list, scope, enc)) {
		return ErrInvalid
	}
	b, err := b64.DecodeString(enc)
	if err != nil {
		return ErrInvalid
	}
	var bd body
	if err := strictUnmarshal(b, &bd); err != nil || bd.Payload == nil {
		return ErrInvalid
	}
	if bd.Issued <= 0 || bd.Issued > math.MaxInt64/int64(time.Second) {
		return ErrInvalid
	}
	now := c.Now()
	issued := time.Unix(bd.Issued, 0)
	if issued.After(now.Add(c.Skew)) {
		return ErrInvalid
	}
	if now.Sub(issued) > c.TTL {
		return ErrExpired
	}
	if err := strictUnmarshal(bd.Payload, into); err != nil {
		return ErrInvalid
	}
	if err := into.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

func strictUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data")
	}
	return nil
}

// Time bounds of a Key: the years 1..9999, which PostgreSQL's timestamptz and RFC 3339 both hold.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC).UnixMicro()
)

// Key is the position of a keyset list ordered by a time and an id (or by id alone, Time 0).
type Key struct {
	Time int64 `json:"t,omitempty"` // unix microseconds of the last row's order key
	ID   int64 `json:"i"`
}

// Validate accepts a positive id and a time PostgreSQL can compare with.
func (k *Key) Validate() error {
	if k.ID <= 0 {
		return errors.New("id must be positive")
	}
	if k.Time < minTime || k.Time > maxTime {
		return errors.New("time out of range")
	}
	return nil
}

// At is the key's time.
func (k *Key) At() time.Time { return time.UnixMicro(k.Time) }
