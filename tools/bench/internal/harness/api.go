package harness

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
)

// API calls the service's HTTP API as one user, failing the run on any answer but a success:
// a benchmark that went on after a failed setup call would time errors.
type API struct {
	Base, Token string
	Client      *http.Client // nil: http.DefaultClient
}

// Do sends the request and returns the answer's body.
func (a *API) Do(method, path, contentType string, body []byte) []byte {
	req, err := http.NewRequest(method, a.Base+path, bytes.NewReader(body))
	Must(err)
	req.Header.Set("Authorization", "Bearer "+a.Token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	client := a.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	Must(err)
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	Must(err)
	if resp.StatusCode >= 300 {
		Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return b
}

// ID sends a JSON body and returns the id of what the answer describes.
func (a *API) ID(method, path, body string) int64 {
	var out struct {
		ID int64 `json:"id"`
	}
	Must(json.Unmarshal(a.Do(method, path, "application/json", []byte(body)), &out))
	return out.ID
}
