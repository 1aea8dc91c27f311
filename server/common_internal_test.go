package server

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/panels/panels/gen"
	curs "github.com/panels/panels/server/cursor"
	"github.com/panels/panels/server/problem"
	"github.com/panels/panels/store"
)

func TestEtagOfAndPreconditions(t *testing.T) {
	a, b := etagOf(map[string]any{"name": "a"}), etagOf(map[string]any{"name": "b"})
	if a == b || a != etagOf(map[string]any{"name": "a"}) || !strings.HasPrefix(a, `"`) || !strings.HasSuffix(a, `"`) || strings.HasPrefix(a, "W/") {
		t.Errorf("etagOf: %s %s", a, b)
	}
	stale := `"stale"`
	if err := precondition(&stale, map[string]any{"name": "a"}); !errors.Is(err, store.ErrPrecondition) {
		t.Errorf("stale If-Match: %v", err)
	}
	if err := precondition(&a, map[string]any{"name": "a"}); err != nil {
		t.Errorf("current If-Match: %v", err)
	}
	if err := precondition(nil, map[string]any{"name": "a"}); err != nil {
		t.Errorf("no If-Match: %v", err)
	}
	weak := "W/" + a
	if err := precondition(&weak, map[string]any{"name": "a"}); !errors.Is(err, store.ErrPrecondition) {
		t.Errorf("weak If-Match accepted: %v", err)
	}
	if !notModified(&weak, a) || notModified(nil, a) || notModified(&stale, a) {
		t.Error("notModified")
	}
}

func TestCursorRoundTripAndRefusals(t *testing.T) {
	key := curs.DeriveKey([]byte("internal-test-secret-0123456789abcdef"))
	codec := curs.New(key)
	// decode is what a list handler answers: the cursor, or the problem the error handler makes.
	decode := func(raw *string, list, scope string) (*curs.Key, error) {
		k, err := curs.DecodeOptional[curs.Key](codec, raw, list, scope)
		if err != nil {
			return k, problem.From(err)
		}
		return k, nil
	}
	in := curs.Key{Time: time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC).UnixMicro(), ID: 42}
	raw := codec.Encode("panels", "tenant-a", &in)
	if strings.ContainsAny(raw, "+/=") {
		t.Errorf("cursor %q is not URL-safe", raw)
	}
	out, err := decode(&raw, "panels", "tenant-a")
	if err != nil {
		t.Fatal(err)
	}
	if *out != in {
		t.Errorf("round trip: %+v, want %+v", out, in)
	}
	if c, err := decode(nil, "panels", "tenant-a"); c != nil || err != nil {
		t.Errorf("no cursor: %v %v", c, err)
	}

	// forge signs a payload with the server's key, issued at the given time: what a leaked key
	// or a bug could produce. Validation must still refuse bad values.
	forge := func(k curs.Key, issued time.Time) string {
		c := curs.New(key)
		c.Now = func() time.Time { return issued }
		return c.Encode("panels", "tenant-a", &k)
	}
	now := time.Now()
	other := curs.New(curs.DeriveKey([]byte("another-secret-0123456789abcdef-xyz")))
	for _, tc := range []struct {
		name        string
		raw         string
		list, scope string
		status      int
	}{
		{"another list", raw, "datasources", "tenant-a", 400},
		{"another scope", raw, "panels", "tenant-b", 400},
		{"another key", other.Encode("panels", "tenant-a", &curs.Key{ID: 3}), "panels", "tenant-a", 400},
		{"not base64", "!!!", "panels", "tenant-a", 400},
		{"unsigned", strings.Split(raw, ".")[0], "panels", "tenant-a", 400},
		{"zero id", forge(curs.Key{ID: 0}, now), "panels", "tenant-a", 400},
		{"negative id", forge(curs.Key{ID: -3}, now), "panels", "tenant-a", 400},
		{"time -2^63", forge(curs.Key{ID: 3, Time: math.MinInt64}, now), "panels", "tenant-a", 400},
		{"time 2^63-1", forge(curs.Key{ID: 3, Time: math.MaxInt64}, now), "panels", "tenant-a", 400},
		{"from the future", forge(curs.Key{ID: 3}, now.Add(time.Hour)), "panels", "tenant-a", 400},
		{"expired", forge(curs.Key{ID: 3}, now.Add(-curs.DefaultTTL-time.Minute)), "panels", "tenant-a", 410},
	} {
		c, err := decode(&tc.raw, tc.list, tc.scope)
		var p *problem.Problem
		if c != nil || !errors.As(err, &p) || p.Status != tc.status {
			t.Errorf("%s: %+v %v, want a %d problem", tc.name, c, err, tc.status)
			continue
		}
		if tc.status == 400 && (len(p.Errors) != 1 || p.Errors[0].Field != "query.cursor") {
			t.Errorf("%s: errors %+v, want one on query.cursor", tc.name, p.Errors)
		}
		if tc.status == 410 && p.Slug != "cursor-expired" {
			t.Errorf("%s: slug %q", tc.name, p.Slug)
		}
	}
	// Just inside the lifetime, and slightly ahead of this clock, is still honoured.
	for _, at := range []time.Time{now.Add(-curs.DefaultTTL + time.Minute), now.Add(30 * time.Second)} {
		fresh := forge(curs.Key{ID: 3}, at)
		if _, err := decode(&fresh, "panels", "tenant-a"); err != nil {
			t.Errorf("cursor issued at %v: %v", at, err)
		}
	}

	link := nextLink("/api/panels", 10, raw)
	if link == nil || *link != "</api/panels?limit=10&cursor="+raw+`>; rel="next"` {
		t.Errorf("next link %v", link)
	}
}

func TestCheckEchoedID(t *testing.T) {
	echoed := func(js string) *gen.EchoedId {
		t.Helper()
		var id gen.EchoedId
		if err := json.Unmarshal([]byte(js), &id); err != nil {
			t.Fatal(err)
		}
		return &id
	}
	for _, tc := range []struct {
		js string
		ok bool
	}{
		{`12`, true},
		{`"12"`, true},
		{`13`, false},
		{`"13"`, false},
		{`"twelve"`, false},
		{`"-12"`, false},
		{`""`, false},
	} {
		err := checkEchoedID(echoed(tc.js), 12)
		if tc.ok && err != nil {
			t.Errorf("id %s for 12: %v", tc.js, err)
		}
		if !tc.ok {
			var p *problem.Problem
			if !errors.As(err, &p) || p.Status != 400 || len(p.Errors) != 1 || p.Errors[0].Field != "body.id" {
				t.Errorf("id %s for 12: %v, want a 400 on body.id", tc.js, err)
			}
		}
	}
	if err := checkEchoedID(nil, 12); err != nil {
		t.Errorf("no id: %v", err)
	}
	var built gen.EchoedId
	if err := built.FromEchoedId1("7"); err != nil {
		t.Fatal(err)
	}
	if err := checkEchoedID(&built, 7); err != nil {
		t.Errorf("string id built with FromEchoedId1: %v", err)
	}
}
