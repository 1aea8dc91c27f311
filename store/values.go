package store

import (
	"encoding/json"
	"reflect"
)

// normalJSON round-trips v through JSON so that values decoded from the database (json.Number)
// and values built in Go compare equal when they mean the same thing.
func normalJSON(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return v
	}
	return out
}

// diffValues keeps the keys whose values differ, for the old and new sides of a change row.
func diffValues(before, after map[string]any) (map[string]any, map[string]any) {
	oldV, newV := map[string]any{}, map[string]any{}
	for k, nv := range after {
		ov, had := before[k]
		if had && reflect.DeepEqual(normalJSON(ov), normalJSON(nv)) {
			continue
		}
		if had {
			oldV[k] = ov
		}
		newV[k] = nv
	}
	for k, ov := range before {
		if _, ok := after[k]; !ok {
			oldV[k] = ov
		}
	}
	return oldV, newV
}
