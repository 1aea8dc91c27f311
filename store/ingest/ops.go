package ingest

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// Op is one operation of a push: an upsert of a record, or the deletion of a key.
type Op struct {
	Delete bool
	Key    string
	Doc    []byte
}

// OpReader yields operations until io.EOF.
type OpReader interface {
	Next() (Op, error)
}

// Ops reads a push body: one JSON object per line, either
//
//	{"op": "upsert", "key": "p1", "record": {...}}   (key optional when keyField finds it in the record)
//	{"op": "delete", "key": "p1"}
func Ops(r io.Reader, keyField string, maxOps int) OpReader {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	o := &opReader{dec: dec, max: maxOps}
	if keyField != "" {
		o.path = strings.Split(keyField, ".")
	}
	return o
}

type opReader struct {
	dec  *json.Decoder
	path []string
	max  int
	n    int
}

type wireOp struct {
	Op     string          `json:"op"`
	Key    json.RawMessage `json:"key"`
	Record json.RawMessage `json:"record"`
}

func (o *opReader) Next() (Op, error) {
	var w wireOp
	if err := o.dec.Decode(&w); err != nil {
		if errors.Is(err, io.EOF) {
			return Op{}, io.EOF
		}
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return Op{}, failf("operation %d is not an object with op, key and record", o.n+1)
		}
		return Op{}, badJSON(err)
	}
	o.n++
	if o.max > 0 && o.n > o.max {
		return Op{}, failf("a push holds at most %d operations", o.max)
	}
	key := ""
	if len(w.Key) > 0 && string(w.Key) != "null" {
		k, ok := keyOf([]byte(`{"k":`+string(w.Key)+`}`), []string{"k"})
		if !ok {
			return Op{}, failf("operation %d: key must be a non-empty text, number or boolean", o.n)
		}
		key = k
	}
	switch w.Op {
	case "delete":
		if key == "" {
			return Op{}, failf("operation %d: a delete needs a key", o.n)
		}
		return Op{Delete: true, Key: key}, nil
	case "upsert":
		if len(w.Record) == 0 || w.Record[0] != '{' {
			return Op{}, failf("operation %d: an upsert needs a record object", o.n)
		}
		if key == "" && o.path != nil {
			key, _ = keyOf(w.Record, o.path)
		}
		if key == "" {
			return Op{}, failf("operation %d: no key (send \"key\", or set the source's keyField)", o.n)
		}
		return Op{Key: key, Doc: w.Record}, nil
	}
	return Op{}, failf(`operation %d: op must be "upsert" or "delete"`, o.n)
}
