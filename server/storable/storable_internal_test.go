package storable

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestJSONBodyErrors(t *testing.T) {
	for body, want := range map[string]string{
		`{"a":1,"b":[{"c":"x"}]}`:             "",
		`{"a":"\u0000"}`:                      "body.a",
		`{"a":{"b":1,"b":2}}`:                 "body.a.b",
		`{"a":"x","\u0061":"y"}`:              "body.a",
		`[{"k\u0000":1}]`:                     `body.0.k\u0000`,
		`{"a":"\\u0000","b":"\\\\u0000"}`:     "",
		`{"a":"\\\u0000"}`:                    "body.a",
		`{"a":1,"a":`:                         "body.a",
		`{"a":[1,2,{"x":null,"y":"\u0000"}]}`: "body.a.2.y",
	} {
		var got []string
		for _, fe := range jsonBodyErrors([]byte(body), "body", true) {
			got = append(got, fe.Field)
		}
		if strings.Join(got, ",") != want {
			t.Errorf("%s: %v, want %q", body, got, want)
		}
	}
}

// BenchmarkJSONBodyErrors is the gate's cost on a body of ordinary size and on a large metadata.
func BenchmarkJSONBodyErrors(b *testing.B) {
	for _, n := range []int{10, 2000} {
		m := map[string]any{}
		for i := range n {
			m[fmt.Sprint("key", i)] = map[string]any{"w": 120, "visible": true, "label": "Column label"}
		}
		body, _ := json.Marshal(map[string]any{"name": "Panel", "metadata": m})
		b.Run(fmt.Sprintf("%dB", len(body)), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				jsonBodyErrors(body, "body", true)
			}
		})
	}
}
