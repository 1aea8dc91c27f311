package cursor

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestEncodeDecode(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	c := New(DeriveKey([]byte("a secret of at least thirty-two bytes")))
	c.Now = func() time.Time { return now }
	tok := c.Encode("panels", "tenant-a", &Key{Time: now.UnixMicro(), ID: 7})
	if strings.ContainsAny(tok, "+/= ") || strings.Contains(tok, "tenant-a") {
		t.Errorf("token %q is not URL-safe or shows its scope", tok)
	}
	var k Key
	if err := c.Decode(tok, "panels", "tenant-a", &k); err != nil || k.ID != 7 || !k.At().Equal(now) {
		t.Fatalf("round trip: %+v %v", k, err)
	}

	at := func(d time.Duration) *Codec {
		cc := *c
		cc.Now = func() time.Time { return now.Add(d) }
		return &cc
	}
	other := New(DeriveKey([]byte("another secret of thirty-two bytes!")))
	other.Now = c.Now
	enc, sig, _ := strings.Cut(tok, ".")
	for _, tc := range []struct {
		name, tok, list, scope string
		codec                  *Codec
		want                   error
	}{
		{"another list", tok, "views", "tenant-a", c, ErrInvalid},
		{"another scope", tok, "panels", "tenant-b", c, ErrInvalid},
		{"scope moved into the list", tok, "panelst", "enant-a", c, ErrInvalid},
		{"another key", other.Encode("panels", "tenant-a", &Key{ID: 7}), "panels", "tenant-a", c, ErrInvalid},
		{"no signature", enc, "panels", "tenant-a", c, ErrInvalid},
		{"signature of nothing", "." + sig, "panels", "tenant-a", c, ErrInvalid},
		{"empty", "", "panels", "tenant-a", c, ErrInvalid},
		{"too long", tok + strings.Repeat("A", MaxLen), "panels", "tenant-a", c, ErrInvalid},
		{"a flipped body byte", enc[:5] + string(enc[5]^1) + enc[6:] + "." + sig, "panels", "tenant-a", c, ErrInvalid},
		{"just inside the lifetime", tok, "panels", "tenant-a", at(DefaultTTL), nil},
		{"expired", tok, "panels", "tenant-a", at(DefaultTTL + time.Second), ErrExpired},
		{"within the skew", tok, "panels", "tenant-a", at(-DefaultSkew), nil},
		{"from the future", tok, "panels", "tenant-a", at(-DefaultSkew - time.Second), ErrInvalid},
	} {
		var k Key
		if err := tc.codec.Decode(tc.tok, tc.list, tc.scope, &k); !errors.Is(err, tc.want) && (err != nil || tc.want != nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestKeyValidate(t *testing.T) {
	for _, tc := range []struct {
		k  Key
		ok bool
	}{
		{Key{ID: 1}, true},
		{Key{ID: math.MaxInt64, Time: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC).UnixMicro()}, true},
		{Key{ID: 1, Time: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()}, true},
		{Key{ID: 0}, false},
		{Key{ID: -1}, false},
		{Key{ID: 1, Time: math.MinInt64}, false},
		{Key{ID: 1, Time: math.MaxInt64}, false},
		{Key{ID: 1, Time: time.Date(0, 12, 31, 0, 0, 0, 0, time.UTC).UnixMicro()}, false},
		{Key{ID: 1, Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()}, false},
	} {
		if err := tc.k.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc.k, err)
		}
	}
	// A signed payload that fails validation is refused like a forged one.
	c := New(RandomKey())
	tok := c.Encode("panels", "s", &Key{ID: -5})
	if err := c.Decode(tok, "panels", "s", &Key{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a signed invalid payload: %v", err)
	}
}

func TestDeriveKey(t *testing.T) {
	a, b := DeriveKey([]byte("secret-one-0123456789abcdef-0123")), DeriveKey([]byte("secret-two-0123456789abcdef-0123"))
	if len(a) != 32 || string(a) == string(b) || string(a) == "secret-one-0123456789abcdef-0123" {
		t.Errorf("derived keys %x %x", a, b)
	}
	if r1, r2 := RandomKey(), RandomKey(); string(r1) == string(r2) {
		t.Error("random keys repeat")
	}
}

// FuzzDecode: no input panics the decoder, and only the codec's own tokens verify.
func FuzzDecode(f *testing.F) {
	c := New(DeriveKey([]byte("fuzz secret of at least thirty-two bytes")))
	f.Add(c.Encode("panels", "t", &Key{ID: 1, Time: 1}))
	f.Add("")
	f.Add(".")
	f.Add("eyJ4IjoxfQ.AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		var k Key
		if err := c.Decode(s, "panels", "t", &k); err == nil && k.Validate() != nil {
			t.Errorf("%q decoded to an invalid key %+v", s, k)
		}
	})
}
