package client_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/panels/panels/server"
	"github.com/panels/panels/server/auth"
	"github.com/panels/panels/store/storetest"
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
	dsn, drop, err := storetest.CreateDatabase("panels_client_test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer drop()
	secret := "example-secret-0123456789abcdef-0123"
	cfg, err := server.ConfigFromEnv(func(k string) string {
		switch k {
		case "DATABASE_URL":
			return dsn
		case "JWT_SECRET":
			return secret
		case "REDIS_URL":
			return os.Getenv("TEST_REDIS_URL")
		}
		return ""
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	app, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer app.Close()
	srv := httptest.NewServer(app.Echo)
	defer srv.Close()
	devToken, err = auth.Mint([]byte(secret), auth.Principal{TenantID: "examples", UserID: "ada", Email: "ada@example.com", Role: auth.RoleAdmin},
		time.Hour, "", "")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	serverURL = srv.URL
	return m.Run()
}
