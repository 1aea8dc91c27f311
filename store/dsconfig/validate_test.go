package dsconfig

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// decode parses a JSON object the way the service may: with plain float64
// numbers or with json.Number.
func decode(t *testing.T, s string, useNumber bool) map[string]any {
	t.Helper()
	if s == "" {
		return nil
	}
	d := json.NewDecoder(strings.NewReader(s))
	if useNumber {
		d.UseNumber()
	}
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return m
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		typ  string
		cfg  string   // JSON; "" means a nil map
		want []string // fields of the expected problems; nil means valid
	}{
		// api
		{"api as sent by the web UI", "api", `{"endpoint": "/api/patients", "method": "GET"}`, nil},
		{"api full", "api", `{"url": "https://ehr.example.org/fhir/Patient", "method": "POST",
			"headers": {"X-Api-Key": "k"}, "recordsPath": "/entry/0~1x", "keyField": "id",
			"timeoutMs": 120000, "somethingElse": [1]}`, nil},
		{"api empty url from a form", "api", `{"url": "", "endpoint": "/api/patients"}`, nil},
		{"api recordsPath root", "api", `{"endpoint": "/x", "recordsPath": ""}`, nil},
		{"api null optional", "api", `{"endpoint": "/x", "method": null}`, nil},
		{"api url and endpoint", "api", `{"url": "https://x.org/a", "endpoint": "/a"}`, []string{"config.url"}},
		{"api neither", "api", `{"method": "GET"}`, []string{"config.url"}},
		{"api nil config", "api", "", []string{"config.url"}},
		{"api ftp url", "api", `{"url": "ftp://files.example.org/p.csv"}`, []string{"config.url"}},
		{"api url without host", "api", `{"url": "https:///patients"}`, []string{"config.url"}},
		{"api url not a string", "api", `{"url": 42}`, []string{"config.url"}},
		{"api relative endpoint", "api", `{"endpoint": "api/patients"}`, []string{"config.endpoint"}},
		{"api protocol-relative endpoint", "api", `{"endpoint": "//evil.example/x"}`, []string{"config.endpoint"}},
		{"api method PUT", "api", `{"endpoint": "/x", "method": "PUT"}`, []string{"config.method"}},
		{"api method lower case", "api", `{"endpoint": "/x", "method": "get"}`, []string{"config.method"}},
		{"api header not a string", "api", `{"endpoint": "/x", "headers": {"Accept": "json", "X-Retry": 3}}`,
			[]string{"config.headers.X-Retry"}},
		{"api headers not an object", "api", `{"endpoint": "/x", "headers": ["a"]}`, []string{"config.headers"}},
		{"api recordsPath relative", "api", `{"endpoint": "/x", "recordsPath": "entry"}`, []string{"config.recordsPath"}},
		{"api recordsPath bad escape", "api", `{"endpoint": "/x", "recordsPath": "/a~2"}`, []string{"config.recordsPath"}},
		{"api keyField empty", "api", `{"endpoint": "/x", "keyField": ""}`, []string{"config.keyField"}},
		{"api timeoutMs 0", "api", `{"endpoint": "/x", "timeoutMs": 0}`, []string{"config.timeoutMs"}},
		{"api timeoutMs too big", "api", `{"endpoint": "/x", "timeoutMs": 120001}`, []string{"config.timeoutMs"}},
		{"api timeoutMs fraction", "api", `{"endpoint": "/x", "timeoutMs": 1.5}`, []string{"config.timeoutMs"}},
		{"api timeoutMs string", "api", `{"endpoint": "/x", "timeoutMs": "100"}`, []string{"config.timeoutMs"}},
		{"api reports every problem", "api", `{"url": "ftp://x", "method": "PUT", "timeoutMs": 0}`,
			[]string{"config.url", "config.method", "config.timeoutMs"}},

		// database
		{"database url", "database", `{"connectionString": "postgres://app:pw@db:5432/emr?sslmode=require",
			"query": "select * from patients", "refreshInterval": 300, "keyField": "mrn"}`, nil},
		{"database postgresql multi-host", "database",
			`{"connectionString": "postgresql://app@db1:5432,db2:5432/emr", "query": "select 1"}`, nil},
		{"database key=value", "database", `{"connectionString": "host=db dbname=emr password='a b\\' c'",
			"query": "select 1", "refreshInterval": "5m"}`, nil},
		{"database refreshInterval 0", "database",
			`{"connectionString": "host=db", "query": "select 1", "refreshInterval": 0}`, nil},
		{"database without query", "database", `{"connectionString": "host=db"}`, []string{"config.query"}},
		{"database blank query", "database", `{"connectionString": "host=db", "query": "  "}`, []string{"config.query"}},
		{"database without connection string", "database", `{"query": "select 1"}`, []string{"config.connectionString"}},
		{"database mysql url", "database", `{"connectionString": "mysql://app:pw@db/emr", "query": "select 1"}`,
			[]string{"config.connectionString"}},
		{"database key=value without host", "database", `{"connectionString": "dbname=emr", "query": "select 1"}`,
			[]string{"config.connectionString"}},
		{"database hostaddr is not host", "database", `{"connectionString": "xhost=db", "query": "select 1"}`,
			[]string{"config.connectionString"}},
		{"database garbage connection string", "database", `{"connectionString": "the prod db", "query": "select 1"}`,
			[]string{"config.connectionString"}},
		{"database unterminated quote", "database", `{"connectionString": "host='db", "query": "select 1"}`,
			[]string{"config.connectionString"}},
		{"database negative refreshInterval", "database",
			`{"connectionString": "host=db", "query": "select 1", "refreshInterval": -1}`, []string{"config.refreshInterval"}},
		{"database negative duration", "database",
			`{"connectionString": "host=db", "query": "select 1", "refreshInterval": "-5m"}`, []string{"config.refreshInterval"}},
		{"database bad duration", "database",
			`{"connectionString": "host=db", "query": "select 1", "refreshInterval": "hourly"}`, []string{"config.refreshInterval"}},
		{"database keyField not a string", "database",
			`{"connectionString": "host=db", "query": "select 1", "keyField": 5}`, []string{"config.keyField"}},

		// file
		{"file csv", "file", `{"format": "csv", "delimiter": ";", "keyField": "mrn"}`, nil},
		{"file tab delimiter", "file", `{"format": "csv", "delimiter": "\t"}`, nil},
		{"file ndjson", "file", `{"format": "ndjson"}`, nil},
		{"file xml", "file", `{"format": "xml"}`, []string{"config.format"}},
		{"file without format", "file", `{}`, []string{"config.format"}},
		{"file two-character delimiter", "file", `{"format": "csv", "delimiter": ",,"}`, []string{"config.delimiter"}},
		{"file empty delimiter", "file", `{"format": "csv", "delimiter": ""}`, []string{"config.delimiter"}},

		// others
		{"custom anything", "custom", `{"plugin": "x", "options": [1, {"a": null}]}`, nil},
		{"custom nil", "custom", "", nil},
		{"unknown type", "ftp", `{}`, []string{"type"}},
	}
	for _, tt := range tests {
		for _, useNumber := range []bool{false, true} {
			problems := Validate(tt.typ, decode(t, tt.cfg, useNumber))
			var fields []string
			for _, p := range problems {
				fields = append(fields, p.Field)
				if p.Reason == "" {
					t.Errorf("%s: problem on %s has no reason", tt.name, p.Field)
				}
			}
			if !slices.Equal(fields, tt.want) {
				t.Errorf("%s (json.Number %v): problems %v, want fields %v", tt.name, useNumber, problems, tt.want)
			}
		}
	}
}
