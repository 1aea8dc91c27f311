package apitime

import (
	"encoding/json"
	"testing"
	"time"
)

func TestMarshalAlwaysHasMilliseconds(t *testing.T) {
	for in, want := range map[time.Time]string{
		time.Date(2026, 11, 26, 4, 18, 2, 720_000_000, time.UTC):                    `"2026-11-26T04:18:02.720Z"`,
		time.Date(2026, 11, 26, 4, 18, 2, 0, time.UTC):                              `"2026-11-26T04:18:02.000Z"`,
		time.Date(2026, 11, 26, 5, 18, 2, 123_999_999, time.FixedZone("CET", 3600)): `"2026-11-26T04:18:02.123Z"`,
	} {
		got, err := json.Marshal(New(in))
		if err != nil || string(got) != want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", in, got, err, want)
		}
		var back Time
		if err := json.Unmarshal(got, &back); err != nil || !back.Equal(New(in).Time) {
			t.Errorf("round trip of %s gave %v, %v", got, back, err)
		}
	}
}
