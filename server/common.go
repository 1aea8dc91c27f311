package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/panels/panels/gen"
	"github.com/panels/panels/server/auth"
	"github.com/panels/panels/server/etag"
	"github.com/panels/panels/server/pipeline"
	"github.com/panels/panels/server/problem"
	"github.com/panels/panels/store"
)

// actorFrom is the store's view of the verified caller.
func actorFrom(ctx context.Context) store.Actor {
	p := pipeline.Principal(ctx)
	return store.Actor{TenantID: p.TenantID, UserID: p.UserID, Email: p.Email,
		Admin: p.Role == auth.RoleAdmin, PlainUser: p.Role == auth.RoleUser}
}

// etagOf is a strong validator of a representation: a hash of its JSON encoding.
func etagOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return `"0"`
	}
	return etagOfJSON(b)
}

func etagOfJSON(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// preparedJSON is a representation encoded once: its ETag hashes the very bytes that are sent,
// where the generated response types would encode the body a second time. It answers the
// operations below exactly as their generated 200/201 types do (Content-Type, ETag, Location).
type preparedJSON struct {
	status   int
	body     []byte // json.Encoder's output, newline included
	etag     string
	location string
}

func prepareJSON(status int, v any) (preparedJSON, error) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		return preparedJSON{}, err
	}
	b := buf.Bytes()
	return preparedJSON{status: status, body: b, etag: etagOfJSON(bytes.TrimSuffix(b, []byte("\n")))}, nil
}

func (p preparedJSON) write(w http.ResponseWriter) error {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("ETag", p.etag)
	if p.location != "" {
		h.Set("Location", p.location)
	}
	w.WriteHeader(p.status)
	_, err := w.Write(p.body)
	return err
}

func (p preparedJSON) VisitGetPanelResponse(w http.ResponseWriter) error    { return p.write(w) }
func (p preparedJSON) VisitCreatePanelResponse(w http.ResponseWriter) error { return p.write(w) }
func (p preparedJSON) VisitGetViewResponse(w http.ResponseWriter) error     { return p.write(w) }
func (p preparedJSON) VisitGetColumnResponse(w http.ResponseWriter) error   { return p.write(w) }
func (p preparedJSON) VisitUpdateColumnResponse(w http.ResponseWriter) error {
	return p.write(w)
}

// precondition checks an If-Match header against the current representation.
func precondition(ifMatch *string, current any) error {
	if ifMatch == nil || etag.Matches(*ifMatch, etagOf(current), false) {
		return nil
	}
	return store.ErrPrecondition
}

// notModified reports whether If-None-Match matches tag.
func notModified(ifNoneMatch *string, tag string) bool {
	return ifNoneMatch != nil && etag.Matches(*ifNoneMatch, tag, true)
}

// checkEchoedID accepts the resource's own id echoed in a body (the web UI's habit) and refuses another.
func checkEchoedID(id *gen.EchoedId, pathID int64) error {
	if id == nil {
		return nil
	}
	raw, err := id.MarshalJSON()
	if err != nil {
		return problem.BadRequest("body.id", "must be the resource's id")
	}
	got, err := strconv.ParseInt(strings.Trim(string(raw), `"`), 10, 64)
	if err != nil || got != pathID {
		return problem.BadRequest("body.id", "does not match the id in the path")
	}
	return nil
}

// Page sizes (docs/data-flow.md#pagination).
const (
	defaultLimit   = 100
	uiDefaultLimit = 1000 // panel and view lists without limit: the web UI never pages
)

func limitOr(limit *int, def int) int {
	if limit == nil {
		return def
	}
	return *limit
}

// nextLink is the RFC 8288 Link header announcing the next page.
func nextLink(path string, limit int, next string) *string {
	s := "<" + path + "?limit=" + strconv.Itoa(limit) + "&cursor=" + next + `>; rel="next"`
	return &s
}
