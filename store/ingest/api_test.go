package ingest

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// A source's custom headers reach its own host, also after a redirect there, and never another.
func TestFetchAPIKeepsCustomHeadersOnItsHost(t *testing.T) {
	seen := map[string]http.Header{}
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen["other"] = r.Header.Clone()
		_, _ = w.Write([]byte(`[]`))
	}))
	defer other.Close()
	source := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, other.URL+"/records", http.StatusFound)
		case "/here":
			http.Redirect(w, r, "/records", http.StatusFound)
		default:
			seen["source"] = r.Header.Clone()
			_, _ = w.Write([]byte(`[]`))
		}
	}))
	defer source.Close()
	// Both servers listen on 127.0.0.1 with different ports: different hosts to a redirect.
	g, err := NewGuard(nil, true)
	if err != nil {
		t.Fatal(err)
	}
	client := g.HTTPClient()
	fetch := func(path string) {
		t.Helper()
		_, closer, err := FetchAPI(t.Context(), client, APIRequest{URL: source.URL + path,
			Headers: map[string]string{"X-Api-Key": "secret", "Authorization": "Bearer secret"}})
		if err != nil {
			t.Fatal(err)
		}
		_ = closer.Close()
	}
	fetch("/here")
	if h := seen["source"]; h.Get("X-Api-Key") != "secret" || h.Get("Authorization") != "Bearer secret" {
		t.Errorf("same-host redirect lost the source's headers: %v", h)
	}
	fetch("/away")
	h := seen["other"]
	if h == nil {
		t.Fatal("the redirect to the other host was not followed")
	}
	// Referer would carry the source's URL, query (tokens) included.
	if h.Get("X-Api-Key") != "" || h.Get("Authorization") != "" || h.Get("Referer") != "" {
		t.Errorf("another host received the source's headers: %v", h)
	}
	if h.Get("User-Agent") != "panels-sync/1" || h.Get("Accept") != "application/json" {
		t.Errorf("generic headers dropped: %v", h)
	}
}
