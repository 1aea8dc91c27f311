package config

import (
	"strings"
	"testing"
)

func TestConfigStytch(t *testing.T) {
	const secret = "stytch-secret-9d2c"
	cfg, err := FromEnv(cfgEnv(cfgWith()))
	if err != nil || cfg.StytchEnabled() {
		t.Fatalf("without STYTCH_*: %v, enabled %t", err, cfg.StytchEnabled())
	}
	cfg, err = FromEnv(cfgEnv(cfgWith("STYTCH_PROJECT_ID", "project-1", "STYTCH_SECRET_KEY", secret,
		"STYTCH_BASE_URL", "https://test.stytch.com/")))
	if err != nil || !cfg.StytchEnabled() || cfg.StytchBaseURL != "https://test.stytch.com" || cfg.StytchProjectID != "project-1" {
		t.Fatalf("with STYTCH_*: %v %+v", err, cfg)
	}
	if s := cfg.String(); strings.Contains(s, secret) || !strings.Contains(s, "STYTCH_SECRET_KEY=********") {
		t.Errorf("Config.String() and the Stytch secret: %s", s)
	}
	for _, tc := range []struct {
		variable string
		vars     map[string]string
	}{
		{"STYTCH_BASE_URL", cfgWith("STYTCH_PROJECT_ID", "p", "STYTCH_SECRET_KEY", secret)},
		{"STYTCH_SECRET_KEY", cfgWith("STYTCH_PROJECT_ID", "p", "STYTCH_BASE_URL", "https://test.stytch.com")},
		{"STYTCH_PROJECT_ID", cfgWith("STYTCH_SECRET_KEY", secret)},
		{"STYTCH_BASE_URL", cfgWith("STYTCH_PROJECT_ID", "p", "STYTCH_SECRET_KEY", secret, "STYTCH_BASE_URL", "ftp://test.stytch.com")},
		{"STYTCH_BASE_URL", cfgWith("STYTCH_PROJECT_ID", "p", "STYTCH_SECRET_KEY", secret, "STYTCH_BASE_URL", "test.stytch.com")},
		{"STYTCH_BASE_URL", cfgWith("STYTCH_PROJECT_ID", "p", "STYTCH_SECRET_KEY", secret, "STYTCH_BASE_URL", "https://user:pw@test.stytch.com")},
	} {
		_, err := FromEnv(cfgEnv(tc.vars))
		if err == nil || !strings.HasPrefix(err.Error(), tc.variable+":") {
			t.Errorf("%v: error %v, want one naming %s", tc.vars, err, tc.variable)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error leaks the secret: %v", tc.variable, err)
		}
	}
}
