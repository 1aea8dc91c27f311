// Package cursor is the one implementation of the service's pagination cursors (docs/data-flow.md#pagination-cursors):
// an opaque token that carries a typed position, is sealed under a server key, is bound to its
// list and scope, and expires.
//
// A token is base64url(nonce + ciphertext) "." base64url(tag): body, the JSON {"x": issue time
// in unix seconds, "p": payload}, sealed with AES-256-GCM, whose additional data is the
// length-prefixed list and scope. Sealing rather than only signing matters: a rows cursor holds
// the last row's sort keys, which may be values of columns the caller cannot read (a view
// sorted on a column it does not show). The list and scope are not in the token: a cursor
// presented to another list, tenant, panel or filter fails to open like a tampered one.
//
// A verified signature is not trusted blindly: each payload validates its values (Payload), so a
// leaked key or a bug yields a refused cursor, never a panic or an unchecked value in SQL.
package cursor

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
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
// HMAC-SHA256(secret, "panels cursor v1"), 32 bytes, so the cursor key is never the token key.
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

// Codec seals and opens cursors with one key.
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

// aad is what a token is bound to besides its body: the length-prefixed list and scope.
func aad(list, scope string) []byte {
	var out []byte
	var n [8]byte
	for _, part := range []string{list, scope} {
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		out = append(out, n[:]...)
		out = append(out, part...)
	}
	return out
}

func aeadOf(key []byte) cipher.AEAD {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(fmt.Sprintf("cursor: key of %d bytes: %v", len(key), err)) // DeriveKey and RandomKey give 32
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		panic(fmt.Sprintf("cursor: %v", err))
	}
	return gcm
}

// Seal is a token holding body for list and scope under key (exported for tests that must seal
// arbitrary bodies, as a leaked key would allow).
func Seal(key []byte, list, scope string, body []byte) string {
	gcm := aeadOf(key)
	nonce := make([]byte, gcm.NonceSize(), gcm.NonceSize()+len(body)+gcm.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(fmt.Sprintf("cursor: no randomness: %v", err))
	}
	sealed := gcm.Seal(nonce, nonce, body, aad(list, scope))
	cut := len(sealed) - gcm.Overhead()
	return b64.EncodeToString(sealed[:cut]) + "." + b64.EncodeToString(sealed[cut:])
}

// Open is the body of a token sealed for list and scope under key; any other token is ErrInvalid.
func Open(key []byte, list, scope, raw string) ([]byte, error) {
	enc, tag, ok := strings.Cut(raw, ".")
	if !ok {
		return nil, ErrInvalid
	}
	head, err1 := b64.DecodeString(enc)
	t, err2 := b64.DecodeString(tag)
	gcm := aeadOf(key)
	if err1 != nil || err2 != nil || len(head) < gcm.NonceSize() || len(t) != gcm.Overhead() {
		return nil, ErrInvalid
	}
	body, err := gcm.Open(nil, head[:gcm.NonceSize()], append(head[gcm.NonceSize():], t...), aad(list, scope))
	if err != nil {
		return nil, ErrInvalid
	}
	return body, nil
}

// Encode issues a cursor of list and scope holding p, stamped with the current time.
func (c *Codec) Encode(list, scope string, p Payload) string {
	raw, err := json.Marshal(p)
	if err != nil {
		panic(fmt.Sprintf("cursor: payload %T does not marshal: %v", p, err)) // payloads are plain structs
	}
	b, _ := json.Marshal(body{Issued: c.Now().Unix(), Payload: raw})
	return Seal(c.key, list, scope, b)
}

// Decode verifies raw as a cursor of list and scope and fills into with its payload.
func (c *Codec) Decode(raw, list, scope string, into Payload) error {
	if raw == "" || len(raw) > MaxLen {
		return ErrInvalid
	}
	b, err := Open(c.key, list, scope, raw)
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

// DecodeOptional decodes the cursor a list request may carry into a new T: nil without one (the
// first page). Every list, keyed or not, reads its cursor through it.
func DecodeOptional[T any, P interface {
	*T
	Payload
}](c *Codec, raw *string, list, scope string) (*T, error) {
	if raw == nil {
		return nil, nil
	}
	var v T
	if err := c.Decode(*raw, list, scope, P(&v)); err != nil {
		return nil, err
	}
	return &v, nil
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
