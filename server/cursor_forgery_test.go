package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// TestForgedCursorsIssue12 reproduces the forged-cursor attacks (docs/data-flow.md#pagination-cursors): hand-edited cursors answered 500, or
// outlived their lifetime. Each cursor is edited in the three ways an attacker could: in the
// unsigned format cursors had before (what answered 500 or never expired), under the original
// signature (tampering), and signed again with the server's key (a leaked key: the checks behind
// the signature must still refuse the value). All are 400 problem+json, an expired one 410.
func TestForgedCursorsIssue12(t *testing.T) {
	fx := cfSetup(t)
	op := func(id, path string) cfOp {
		for _, o := range fx.ops {
			if o.id == id && (path == "" || o.path == path) {
				return o
			}
		}
		t.Fatalf("no fixture for %s %s", id, path)
		return cfOp{}
	}
	var byAge, byLabel cfOp
	for _, o := range fx.ops {
		if o.id == "getPanelRows" {
			switch body := cfBody(t, o); {
			case cfGet(body, []any{"p", "k", 0, "t"}) == "q" && len(cfGet(body, []any{"p", "k"}).([]any)) == 1:
				byAge = o
			case cfGet(body, []any{"p", "k", 0, "t"}) == "s":
				byLabel = o
			}
		}
	}
	if byAge.id == "" || byLabel.id == "" {
		t.Fatal("no SQL-keyset or Go-sorted rows cursor in the fixture")
	}
	panels := op("listPanels", "")

	send := func(t *testing.T, o cfOp, c string, want int) {
		t.Helper()
		resp, body := raw(t, "GET", o.path+"&cursor="+url.QueryEscape(c), fx.others[0], nil, nil)
		var p struct {
			Status int `json:"status"`
			Errors []struct {
				Field string `json:"field"`
			} `json:"errors"`
		}
		if resp.StatusCode != want || resp.Header.Get("Content-Type") != "application/problem+json" ||
			json.Unmarshal(body, &p) != nil || p.Status != want || (want == 400 && (len(p.Errors) != 1 || p.Errors[0].Field != "query.cursor")) {
			t.Errorf("%s: %d %s, want a %d problem on query.cursor", o.id, resp.StatusCode, body, want)
		}
	}
	// all sends the edit in the three forms, each expected to answer want (the re-signed one
	// wantSigned).
	all := func(t *testing.T, o cfOp, edit func(m map[string]any), want, wantSigned int) {
		t.Helper()
		m := cfBody(t, o)
		edit(m)
		t.Run("unsigned", func(t *testing.T) { send(t, o, cfUnsigned(t, o, m), want) })
		t.Run("original signature", func(t *testing.T) { send(t, o, cfTampered(t, o.seed, m), want) })
		t.Run("re-signed", func(t *testing.T) { send(t, o, cfResigned(t, o, m), wantSigned) })
	}
	setKey := func(kind, v string) func(m map[string]any) {
		return func(m map[string]any) { cfSet(m, []any{"p", "k", 0}, map[string]any{"t": kind, "v": v}) }
	}

	t.Run("a rows cursor with an empty k array", func(t *testing.T) {
		all(t, byAge, func(m map[string]any) { cfSet(m, []any{"p", "k"}, []any{}) }, 400, 400)
	})
	t.Run("a rows cursor with more keys than sorts", func(t *testing.T) {
		all(t, byAge, func(m map[string]any) { cfSet(m, []any{"p", "k"}, []any{map[string]any{}, map[string]any{}}) }, 400, 400)
	})
	for _, v := range []string{"abc", "1e999999", "NaN", "Infinity", "1;2", ""} {
		t.Run("a number key "+strconv.Quote(v), func(t *testing.T) { all(t, byAge, setKey("q", v), 400, 400) })
	}
	t.Run("a Go kind on the SQL keyset", func(t *testing.T) { all(t, byAge, setKey("n", "5"), 400, 400) })
	t.Run("a NUL in a key", func(t *testing.T) { all(t, byLabel, setKey("s", "a\x00b"), 400, 400) })
	for _, v := range []string{"1e999999", "NaN", "-Inf"} {
		t.Run("a Go number key "+v, func(t *testing.T) { all(t, byLabel, setKey("n", v), 400, 400) })
	}
	for _, tm := range []string{"-9223372036854775808", "9223372036854775807", "-62135596800000001"} {
		t.Run("a panels cursor with t = "+tm, func(t *testing.T) {
			all(t, panels, func(m map[string]any) { cfSet(m, []any{"p", "t"}, json.Number(tm)) }, 400, 400)
		})
	}
	t.Run("a panels cursor with id 0", func(t *testing.T) {
		all(t, panels, func(m map[string]any) { cfSet(m, []any{"p", "i"}, json.Number("0")) }, 400, 400)
	})
	// Before, x could be moved ahead and the cursor never expired: now it is signed, a future
	// issue time (beyond a minute of clock skew) is refused, and an old one has expired.
	issued := func(at time.Time) func(m map[string]any) {
		return func(m map[string]any) { m["x"] = json.Number(strconv.FormatInt(at.Unix(), 10)) }
	}
	t.Run("an issue time ten years ahead", func(t *testing.T) { all(t, panels, issued(time.Now().AddDate(10, 0, 0)), 400, 400) })
	t.Run("an issue time an hour ahead", func(t *testing.T) { all(t, byAge, issued(time.Now().Add(time.Hour)), 400, 400) })
	t.Run("an issue time 25 hours ago", func(t *testing.T) { all(t, panels, issued(time.Now().Add(-25*time.Hour)), 400, http.StatusGone) })
	t.Run("a rows cursor issued 25 hours ago", func(t *testing.T) {
		all(t, byAge, issued(time.Now().Add(-25*time.Hour)), 400, http.StatusGone)
	})
	// The webhook lists' cursors expire the same way (the webhook list's scope is its caller's own).
	for _, id := range []string{"listWebhooks", "listWebhookDeliveries"} {
		t.Run(id+" cursor issued 25 hours ago", func(t *testing.T) {
			o := op(id, "")
			m := cfBody(t, o)
			issued(time.Now().Add(-25 * time.Hour))(m)
			resp, body := raw(t, "GET", o.path+"&cursor="+url.QueryEscape(cfResigned(t, o, m)), fx.tok, nil, nil)
			wantProblem(t, id+" expired cursor", resp, body, http.StatusGone)
			if resp, body := raw(t, "GET", o.path+"&cursor="+url.QueryEscape(o.seed), fx.tok, nil, nil); resp.StatusCode != http.StatusOK {
				t.Errorf("%s with its own cursor: %d %s", id, resp.StatusCode, body)
			}
		})
	}
	// A cursor of another list, scope or deployment is refused too.
	t.Run("a cursor of another list", func(t *testing.T) { send(t, op("listViews", ""), panels.seed, 400) })
	t.Run("a cursor of another view", func(t *testing.T) { send(t, byLabel, byAge.seed, 400) })
	t.Run("a cursor under another key", func(t *testing.T) {
		c := cfResigned(t, panels, cfBody(t, panels))
		forged := "AA"
		if c[len(c)-2] == 'A' { // the second last character always carries signature bits: it must change
			forged = "BB"
		}
		send(t, panels, c[:len(c)-2]+forged, 400)
	})
	// The seeds themselves are honoured.
	for _, o := range []cfOp{panels, byAge, byLabel} {
		if resp, body := raw(t, "GET", o.path+"&cursor="+url.QueryEscape(o.seed), fx.others[0], nil, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("%s with its own cursor: %d %s", o.path, resp.StatusCode, body)
		}
	}
}
