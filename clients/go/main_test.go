package client_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/panels/panels/server/auth"
	"github.com/panels/panels/server/servertest"
)

// The examples talk to a real service: the production setup (server.New) on a fresh database.
// serverURL and devToken stand for what a reader has: the service's address (for example
// http://localhost:3001) and a token from `panels token --tenant T --user U`.
var (
	serverURL string
	devToken  string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	secret := "example-secret-0123456789abcdef-0123"
	svc, err := servertest.Start(context.Background(), servertest.Options{DBPrefix: "panels_client_test", Env: map[string]string{
		"JWT_SECRET": secret,
		"REDIS_URL":  os.Getenv("TEST_REDIS_URL"),
	}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer svc.Close()
	devToken, err = auth.Mint([]byte(secret), auth.Principal{TenantID: "examples", UserID: "ada", Email: "ada@example.com", Role: auth.RoleAdmin},
		time.Hour, "", "")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	serverURL = svc.URL
	return m.Run()
}
