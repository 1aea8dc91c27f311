package main

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthcheckCommand(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"status":"x"}`))
	}))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	env := func(k string) string {
		if k == "PORT" {
			return port
		}
		return ""
	}
	var out, errOut bytes.Buffer
	if err := run([]string{"healthcheck"}, env, &out, &errOut); err != nil || strings.TrimSpace(out.String()) != "ready" {
		t.Fatalf("ready service: %v %q", err, out.String())
	}
	status = http.StatusServiceUnavailable
	err := run([]string{"healthcheck"}, env, &out, &errOut)
	var ec exitCodeError
	if !errors.As(err, &ec) || ec.code != 1 || !strings.Contains(err.Error(), "503") {
		t.Fatalf("draining service: %v (want exit status 1, which Docker reads as unhealthy)", err)
	}
	srv.Close()
	if err := run([]string{"healthcheck", "--url", srv.URL + "/healthz", "--timeout", "500ms"}, env, &out, &errOut); !errors.As(err, &ec) || ec.code != 1 {
		t.Fatalf("service down: %v", err)
	}
}
