package server

import "testing"

const cfgTestSecret = "cfg-test-secret-0123456789abcdef-XYZ"

// cfgEnv is an environment: only the given variables are set.
func cfgEnv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// cfgWith is a valid environment (a secret) plus the given variables.
func cfgWith(kv ...string) map[string]string {
	vars := map[string]string{"JWT_SECRET": cfgTestSecret}
	for i := 0; i+1 < len(kv); i += 2 {
		vars[kv[i]] = kv[i+1]
	}
	return vars
}

// The settings themselves are tested in package config; callers of server.ConfigFromEnv get
// the same parse, errors included.
func TestConfigFromEnvIsConfigs(t *testing.T) {
	cfg, err := ConfigFromEnv(cfgEnv(cfgWith("PORT", "8080", "UPLOAD_LIMIT", "1MiB")))
	if err != nil || cfg.Port != 8080 || cfg.UploadLimit != 1<<20 || cfg.JWTSecret != cfgTestSecret {
		t.Fatalf("%+v, %v", cfg, err)
	}
	if _, err := ConfigFromEnv(cfgEnv(cfgWith("PORT", "x"))); err == nil || err.Error() != `PORT: want a port number 1..65535, got "x"` {
		t.Errorf("bad PORT: %v", err)
	}
}
