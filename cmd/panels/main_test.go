package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/panels/panels/server/auth"
)

func TestHelpForEveryCommand(t *testing.T) {
	env := func(string) string { return "" }
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}, {"migrate", "--help"}, {"token", "--help"}, {"seed", "--help"}, {"db-reset", "--help"}} {
		var out, errOut bytes.Buffer
		_ = run(args, env, &out, &errOut)
		if !strings.Contains(out.String()+errOut.String(), "Usage") {
			t.Errorf("%v: no usage printed: %q %q", args, out.String(), errOut.String())
		}
	}
}

func TestTokenCommandMintsVerifiableTokens(t *testing.T) {
	secret := "0123456789abcdef0123456789abcdef"
	env := func(k string) string {
		if k == "JWT_SECRET" {
			return secret
		}
		return ""
	}
	var out, errOut bytes.Buffer
	if err := run([]string{"token", "--tenant", "t1", "--user", "u1", "--email", "U1@X.com", "--role", "builder"}, env, &out, &errOut); err != nil {
		t.Fatal(err, errOut.String())
	}
	v, err := auth.NewVerifier(t.Context(), auth.Config{Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(t.Context(), strings.TrimSpace(out.String()))
	if err != nil || p.TenantID != "t1" || p.UserID != "u1" || p.Email != "u1@x.com" || p.Role != auth.RoleBuilder {
		t.Fatalf("token verified as %+v, %v", p, err)
	}
	for _, bad := range [][]string{{"token", "--user", "u"}, {"token", "--tenant", "t", "--user", "u", "--role", "root"}} {
		if err := run(bad, env, &out, &errOut); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
	if err := run([]string{"token", "--tenant", "t", "--user", "u"}, func(string) string { return "short" }, &out, &errOut); err == nil {
		t.Error("a short JWT_SECRET was accepted")
	}
}

func TestUnknownCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run([]string{"frobnicate"}, func(string) string { return "" }, &out, &errOut); err == nil {
		t.Error("unknown command accepted")
	}
}

// The variables are listed once, in README.md's table generated from server/config; a hand-made
// list in the usage text would drift from it.
func TestUsagePointsAtTheReadme(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"--help"}, func(string) string { return "" }, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "README.md's Configuration table") || strings.Contains(out.String(), "RATE_LIMIT") {
		t.Errorf("usage: %s", out.String())
	}
}

func TestMigrateNamesABadDatabaseURL(t *testing.T) {
	var out bytes.Buffer
	env := func(k string) string { return map[string]string{"DATABASE_URL": "mysql://root:pw@db/panels"}[k] }
	for _, args := range [][]string{{"migrate", "version"}, {"db-reset"}, {"seed"}} {
		if err := run(args, env, &out, &out); err == nil || !strings.HasPrefix(err.Error(), "DATABASE_URL:") || strings.Contains(err.Error(), "pw") {
			t.Errorf("%v: %v, want an error naming DATABASE_URL", args, err)
		}
	}
}
