package harness

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	ds := []time.Duration{5 * time.Millisecond, time.Millisecond, 3 * time.Millisecond, 2 * time.Millisecond}
	// The upper middle of an even count: the results files were computed that way.
	if got := Median(ds); got != 3*time.Millisecond {
		t.Errorf("Median(%v) = %v, want 3ms", ds, got)
	}
	if !slices.Equal(ds, []time.Duration{5 * time.Millisecond, time.Millisecond, 3 * time.Millisecond, 2 * time.Millisecond}) {
		t.Errorf("Median reordered its argument: %v", ds)
	}
	if got := Median([]float64{2.5, 0.5, 1.5}); got != 1.5 {
		t.Errorf("Median of three floats = %v, want 1.5", got)
	}
	if got := Median[float64](nil); got != 0 {
		t.Errorf("Median(nil) = %v, want 0", got)
	}
}

func TestMs(t *testing.T) {
	d := 12*time.Millisecond + 345*time.Microsecond + 999*time.Nanosecond // the nanoseconds are dropped, not rounded
	for _, c := range []struct {
		decimals int
		want     string
	}{{1, "12.3 ms"}, {2, "12.35 ms"}, {3, "12.345 ms"}} {
		if got := Ms(d, c.decimals); got != c.want {
			t.Errorf("Ms(%v, %d) = %q, want %q", d, c.decimals, got, c.want)
		}
	}
}

func TestServiceEnvExtraComesLast(t *testing.T) {
	// exec takes the last value of a repeated key, so an extra LOG_LEVEL must follow the default.
	env := ServiceEnv("postgres://x", "LOG_LEVEL=info")
	if env[len(env)-1] != "LOG_LEVEL=info" || !slices.Contains(env, "DATABASE_URL=postgres://x") || !slices.Contains(env, "JWT_SECRET="+Secret) {
		t.Errorf("ServiceEnv = %v", env)
	}
	a, b := append(env, "CACHE_TTL=0"), append(env, "CACHE_TTL=60s")
	if a[len(a)-1] != "CACHE_TTL=0" || b[len(b)-1] != "CACHE_TTL=60s" {
		t.Errorf("two instances' environments share their settings: %v, %v", a, b)
	}
}

func TestAPIID(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("Content-Type") != "application/json" || string(body) != `{"name":"x"}` {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"id":42,"name":"x"}`)
	}))
	defer srv.Close()
	a := &API{Base: srv.URL, Token: "tok"}
	if id := a.ID("POST", "/api/panels", `{"name":"x"}`); id != 42 {
		t.Errorf("ID = %d, want 42", id)
	}
}
