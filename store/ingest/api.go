package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// APIRequest is one fetch of an `api` source.
type APIRequest struct {
	URL         string
	Method      string // GET or POST
	Headers     map[string]string
	Body        []byte // sent as JSON with POST, when set
	RecordsPath string // JSON pointer to the records array
	MaxBytes    int64  // response size limit
	Options
}

// HTTPClient is an HTTP client whose every connection goes through the guard, with no proxy
// (a proxy would be the address checked instead of the target) and at most 5 redirects.
func (g *Guard) HTTPClient() *http.Client {
	d := g.NewDialer()
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          10,
		IdleConnTimeout:       30 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 0, // the request's context bounds the whole exchange
	}
	return &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return failf("too many redirects")
		}
		// The source's own headers (API keys, tokens) are meant for its host: a redirect elsewhere
		// (another host or port, or a downgrade to http) gets only the generic ones, without the
		// Referer Go adds (the source's URL may carry a token). Go itself drops only Authorization
		// and Cookie, and only for another domain.
		if first := via[0].URL; req.URL.Host != first.Host || (first.Scheme == "https" && req.URL.Scheme != "https") {
			for name := range req.Header {
				if !redirectSafeHeaders[name] {
					req.Header.Del(name)
				}
			}
		}
		return nil
	}}
}

// redirectSafeHeaders are the headers FetchAPI sets itself, kept on any redirect.
var redirectSafeHeaders = map[string]bool{"Accept": true, "User-Agent": true, "Content-Type": true}

// FetchAPI sends the request and returns a reader of the records in the response, which must be
// closed. ctx bounds the whole exchange, body included, so it should carry the sync's timeout.
func FetchAPI(ctx context.Context, client *http.Client, r APIRequest) (Reader, io.Closer, error) {
	u, err := url.Parse(r.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// Not echoed: a URL may carry a token in its query.
		return nil, nil, failf("the source's URL is not an absolute http or https URL")
	}
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if method == http.MethodPost && len(r.Body) > 0 {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, nil, failf("cannot build the request: %v", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "panels-sync/1")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.Headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, transportErr(err, u.Host)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_ = resp.Body.Close()
		return nil, nil, failf("the API answered %s", resp.Status)
	}
	if r.MaxBytes > 0 && resp.ContentLength > r.MaxBytes {
		_ = resp.Body.Close()
		return nil, nil, failf("the response is larger than %d bytes", r.MaxBytes)
	}
	var in io.Reader = resp.Body
	if r.MaxBytes > 0 {
		in = newLimitReader(resp.Body, r.MaxBytes)
	}
	rd, err := JSONArray(in, r.RecordsPath, r.Options)
	if err != nil {
		_ = resp.Body.Close()
		return nil, nil, err
	}
	return &apiReader{Reader: rd, host: u.Host}, resp.Body, nil
}

// apiReader turns transport failures met while reading the body into source errors.
type apiReader struct {
	Reader
	host string
}

func (a *apiReader) Next() (Record, error) {
	rec, err := a.Reader.Next()
	if err != nil && !errors.Is(err, io.EOF) {
		var se *Error
		if !errors.As(err, &se) {
			err = transportErr(err, a.host)
		}
	}
	return rec, err
}

// transportErr describes a failed exchange without internals.
func transportErr(err error, host string) error {
	var se *Error
	if errors.As(err, &se) {
		return se
	}
	var tl *tooLargeError
	if errors.As(err, &tl) {
		return failf("the response is larger than %d bytes", tl.Limit)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return failf("the API at %s did not answer in time", host)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return failf("the API at %s did not answer in time", host)
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return failf("cannot connect to %s: %s", host, strings.TrimPrefix(oe.Err.Error(), "connect: "))
	}
	return failf("request to %s failed: %s", host, lastPart(err))
}

// lastPart keeps the innermost message of a wrapped error chain ("dial tcp: ...: refused" → "refused").
func lastPart(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}

// ResolveEndpoint joins an `endpoint` path onto the API_SOURCE_BASE_URL setting.
func ResolveEndpoint(base, endpoint string) (string, error) {
	if base == "" {
		return "", failf("this source names an endpoint (%s), but the service has no API_SOURCE_BASE_URL to resolve it against", clip(endpoint))
	}
	b, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("API_SOURCE_BASE_URL: %w", err)
	}
	rel, err := url.Parse(endpoint)
	if err != nil || rel.IsAbs() || rel.Host != "" {
		return "", failf("the endpoint %q is not a path", clip(endpoint))
	}
	// Keep the base's own path prefix: base https://h/v1 + /patients = https://h/v1/patients.
	out := *b
	out.Path = strings.TrimRight(b.Path, "/") + rel.Path
	out.RawPath = ""
	if rel.RawQuery != "" {
		out.RawQuery = rel.RawQuery
	}
	return out.String(), nil
}
