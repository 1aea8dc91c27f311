package config

import (
	"bytes"
	"strings"
	"testing"

	curs "github.com/panels/panels/server/cursor"
)

// TestCursorKeyConfig: CURSOR_KEY, else JWT_SECRET, through the domain-separating derivation;
// with neither, a random per-process key flagged as ephemeral.
func TestCursorKeyConfig(t *testing.T) {
	const cursorKey = "cursor-key-0123456789abcdef-0123456789"
	cfg, err := FromEnv(cfgEnv(cfgWith("CURSOR_KEY", cursorKey)))
	if err != nil {
		t.Fatal(err)
	}
	if k, eph := cfg.CursorSigningKey(); eph || !bytes.Equal(k, curs.DeriveKey([]byte(cursorKey))) {
		t.Errorf("with CURSOR_KEY: %x ephemeral %v", k, eph)
	}
	if s := cfg.String(); strings.Contains(s, cursorKey) || !strings.Contains(s, "CURSOR_KEY=********") {
		t.Errorf("the configuration line shows the cursor key: %s", s)
	}

	cfg, _ = FromEnv(cfgEnv(cfgWith()))
	k, eph := cfg.CursorSigningKey()
	if eph || !bytes.Equal(k, curs.DeriveKey([]byte(cfgTestSecret))) || bytes.Equal(k, []byte(cfgTestSecret)) {
		t.Errorf("from JWT_SECRET: %x ephemeral %v", k, eph)
	}

	cfg, err = FromEnv(cfgEnv(map[string]string{"JWT_JWKS_URL": "https://idp.example/jwks.json"}))
	if err != nil {
		t.Fatal(err)
	}
	k1, eph1 := cfg.CursorSigningKey()
	k2, _ := cfg.CursorSigningKey()
	if !eph1 || len(k1) != 32 || bytes.Equal(k1, k2) {
		t.Errorf("JWKS only: %x %x ephemeral %v", k1, k2, eph1)
	}

	if _, err := FromEnv(cfgEnv(cfgWith("CURSOR_KEY", "short"))); err == nil || !strings.HasPrefix(err.Error(), "CURSOR_KEY:") {
		t.Errorf("a short CURSOR_KEY: %v", err)
	}
}
