package ingest

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestKeyOf(t *testing.T) {
	doc := []byte(` { "a" : 1, "s\"k": {"x": "]}"}, "b": {"c": [1, {"d": "}"}], "id": "k\u00e9y"}, "n": null, "t": true, "e": "" } `)
	for _, tc := range []struct {
		path string
		want string
		ok   bool
	}{
		{"a", "1", true},
		{"b.id", "kéy", true},
		{"t", "true", true},
		{`s"k`, "", false}, // an object is no key
		{"n", "", false},
		{"e", "", false},
		{"b.c", "", false},
		{"missing", "", false},
		{"a.b", "", false},
	} {
		got, ok := keyOf(doc, strings.Split(tc.path, "."))
		if got != tc.want || ok != tc.ok {
			t.Errorf("keyOf(%q) = %q, %v; want %q, %v", tc.path, got, ok, tc.want, tc.ok)
		}
	}
}

func readAll(t *testing.T, rd Reader) ([]Record, error) {
	t.Helper()
	var out []Record
	for {
		r, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
}

func TestReaders(t *testing.T) {
	rd, _ := JSONArray(strings.NewReader(`{"meta":[1,{"a":"]"}],"data":{"items":[{"id":2},{"id":"x"}]},"tail":[]}`), "/data/items", Options{KeyField: "id"})
	recs, err := readAll(t, rd)
	if err != nil || len(recs) != 2 || recs[0].Key != "2" || recs[1].Key != "x" || string(recs[0].Doc) != `{"id":2}` {
		t.Errorf("JSONArray: %+v %v", recs, err)
	}
	rd, _ = JSONArray(strings.NewReader(`[{"a":1},{"a":2}]`), "", Options{MaxRecords: 1})
	if _, err := readAll(t, rd); err == nil || !strings.Contains(err.Error(), "more than 1") {
		t.Errorf("record limit: %v", err)
	}
	rd, _ = JSONArray(strings.NewReader(`[{"a":1}] trailing`), "", Options{})
	if _, err := readAll(t, rd); err == nil {
		t.Error("trailing garbage accepted")
	}
	rd, _ = CSV(strings.NewReader("id|name\n1|a\n2|\n"), '|', Options{KeyField: "id"})
	recs, err = readAll(t, rd)
	if err != nil || len(recs) != 2 || string(recs[1].Doc) != `{"id":"2","name":null}` || recs[1].Key != "2" {
		t.Errorf("CSV: %+v %v", recs, err)
	}
	recs, err = readAll(t, NDJSON(strings.NewReader("{\"k\":1}\n\n{\"k\":2}"), Options{}))
	if err != nil || len(recs) != 2 || recs[1].Key != "2" {
		t.Errorf("NDJSON keyed by position: %+v %v", recs, err)
	}
	big := newLimitReader(strings.NewReader(`[{"a":"0123456789"}]`), 10)
	rd, _ = JSONArray(big, "", Options{})
	var tl *tooLargeError
	if _, err := readAll(t, rd); !errors.As(err, &tl) {
		t.Errorf("limit: %v", err)
	}
}

func TestMalformedArrays(t *testing.T) {
	for doc, want := range map[string]string{
		`[{"a":1},]`:                          "comma before ]",
		`[{"a":1} {"a":2}]`:                   "expected , or ]",
		`[{"a":1},{"a":}]`:                    "invalid JSON in record 2",
		`[{"a":"}]`:                           "ends too early",
		`[{"a":1}]]`:                          "after the records",
		`{"d":{"r":[{"a":1}]}`:                "after the records",
		`[1]`:                                 "not a JSON object",
		`{"d":{"r":[{"a":"]}"}]},"x":[1,{}]}`: "",
	} {
		rd, _ := JSONArray(strings.NewReader(doc), map[bool]string{true: "/d/r", false: ""}[strings.HasPrefix(doc, "{")], Options{})
		_, err := readAll(t, rd)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", doc, err, want)
		}
	}
}

func BenchmarkJSONArray(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("[")
	for i := range 100000 {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString(`{"id":"p` + strings.Repeat("0", 6) + `","name":"Ada Lovelace 12","age":36,"status":"active","score":12.5,"address":{"city":"London","zip":"12345"}}`)
	}
	sb.WriteString("]")
	doc := sb.String()
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		rd, _ := JSONArray(strings.NewReader(doc), "", Options{})
		for {
			if _, err := rd.Next(); err != nil {
				break
			}
		}
	}
}
