package dsconfig

import (
	"fmt"
	"reflect"
	"testing"
)

func TestIsSecretKey(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"password", true},
		{"dbPassword", true},
		{"PASSPHRASE", true},
		{"clientSecret", true},
		{"accessToken", true},
		{"apiKey", true},
		{"api_key", true},
		{"Authorization", true},
		{"keyFields", true}, // only keyField itself is exempt
		{"monkey", true},    // substring match errs on the side of masking
		{"keyField", false},
		{"url", false},
		{"username", false},
		{"headers", false},
		{"connectionString", false},
	}
	for _, tt := range tests {
		if got := isSecretKey(tt.name); got != tt.want {
			t.Errorf("isSecretKey(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestMasked(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"nil gives empty map", "", `{}`},
		{"api headers and nested secrets",
			`{"url": "https://x.org", "keyField": "mrn", "timeoutMs": 100,
			  "headers": {"X-Api-Key": "abc", "Accept": "json", "X-Empty": ""},
			  "auth": {"clientId": "id", "clientSecret": "s", "scopes": [{"name": "n", "token": "t"}, "plain"]},
			  "apiKeys": ["a", "b"], "password": 12345, "emptyToken": "", "nullPass": null}`,
			`{"url": "https://x.org", "keyField": "mrn", "timeoutMs": 100,
			  "headers": {"X-Api-Key": "********", "Accept": "********", "X-Empty": ""},
			  "auth": {"clientId": "id", "clientSecret": "********", "scopes": [{"name": "n", "token": "********"}, "plain"]},
			  "apiKeys": "********", "password": "********", "emptyToken": "", "nullPass": null}`},
		{"headers of unknown shape", `{"headers": [["X-Api-Key", "abc"]]}`, `{"headers": "********"}`},
		{"connection string url",
			`{"connectionString": "postgres://app:s3cr%40t@db:5432/emr?sslmode=require"}`,
			`{"connectionString": "postgres://app:********@db:5432/emr?sslmode=require"}`},
		{"connection string url with password parameter",
			`{"connectionString": "postgresql://db/emr?user=app&password=s3cret&sslpassword=x#f"}`,
			`{"connectionString": "postgresql://db/emr?user=app&password=********&sslpassword=********#f"}`},
		{"connection string url without password",
			`{"connectionString": "postgres://app@db/emr"}`,
			`{"connectionString": "postgres://app@db/emr"}`},
		{"connection string key=value",
			`{"connectionString": "host=db user=app password = 's3 \\' cret' sslmode=require"}`,
			`{"connectionString": "host=db user=app password = ******** sslmode=require"}`},
		{"unparseable connection string is hidden whole",
			`{"connectionString": "host='db password=x"}`,
			`{"connectionString": "********"}`},
		{"nested connection string", `{"replicas": [{"connectionString": "host=r1 password=x"}]}`,
			`{"replicas": [{"connectionString": "host=r1 password=********"}]}`},
	}
	for _, tt := range tests {
		in := decode(t, tt.in, false)
		before := fmt.Sprint(in)
		got := Masked(in)
		if want := decode(t, tt.want, false); !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %v\nwant %v", tt.name, got, want)
		}
		if got == nil {
			t.Errorf("%s: Masked returned nil", tt.name)
		}
		if fmt.Sprint(in) != before {
			t.Errorf("%s: Masked modified its input: %v", tt.name, in)
		}
	}
}

func TestMaskedReturnsCopy(t *testing.T) {
	in := decode(t, `{"auth": {"clientId": "id"}, "list": [{"a": 1}]}`, false)
	out := Masked(in)
	out["auth"].(map[string]any)["clientId"] = "changed"
	out["list"].([]any)[0].(map[string]any)["a"] = 2.0
	if want := decode(t, `{"auth": {"clientId": "id"}, "list": [{"a": 1}]}`, false); !reflect.DeepEqual(in, want) {
		t.Errorf("changing Masked's result changed its input: %v", in)
	}
}

func TestMergeMaskedRoundTrip(t *testing.T) {
	configs := []string{
		`{"url": "https://x.org", "method": "GET", "keyField": "mrn",
		  "headers": {"X-Api-Key": "abc", "Accept": "json"}, "auth": {"clientSecret": "s"},
		  "accounts": [{"user": "u", "token": "t"}], "password": 12345, "apiKeys": ["a"]}`,
		`{"connectionString": "postgres://app:s3cr%40t@db:5432/emr?password=p&sslmode=require", "query": "select 1"}`,
		`{"connectionString": "host=db password='s3 \\' cret'", "query": "select 1"}`,
		`{"connectionString": "host='db password=x"}`,
		`{"connectionString": 7, "headers": "odd"}`,
	}
	for _, c := range configs {
		stored := decode(t, c, true)
		if got := MergeMasked(Masked(stored), stored); !reflect.DeepEqual(got, stored) {
			t.Errorf("round trip of %s:\n got %v", c, got)
		}
	}
}

func TestMergeMasked(t *testing.T) {
	tests := []struct {
		name     string
		incoming string
		stored   string
		want     string
	}{
		{"nil gives empty map", "", "", `{}`},
		{"new values replace stored ones",
			`{"password": "new", "headers": {"X-Api-Key": "new", "Accept": "********"}}`,
			`{"password": "old", "headers": {"X-Api-Key": "old", "Accept": "json"}}`,
			`{"password": "new", "headers": {"X-Api-Key": "new", "Accept": "json"}}`},
		{"removed keys stay removed", `{"url": "https://x.org"}`, `{"url": "https://x.org", "token": "t"}`,
			`{"url": "https://x.org"}`},
		{"mask without a stored value is kept", `{"token": "********", "headers": {"X-New": "********"}}`, `{}`,
			`{"token": "********", "headers": {"X-New": "********"}}`},
		{"mask at a non-secret position is a plain value", `{"note": "********", "keyField": "********"}`,
			`{"note": "n", "keyField": "k"}`, `{"note": "********", "keyField": "********"}`},
		{"arrays match by index",
			`{"accounts": [{"token": "********"}, {"token": "c"}, {"token": "********"}]}`,
			`{"accounts": [{"token": "a"}, {"token": "b"}]}`,
			`{"accounts": [{"token": "a"}, {"token": "c"}, {"token": "********"}]}`},
		{"changed host keeps masked url password",
			`{"connectionString": "postgres://app:********@db2/emr"}`,
			`{"connectionString": "postgres://app:s3cr%40t@db1/emr"}`,
			`{"connectionString": "postgres://app:s3cr%40t@db2/emr"}`},
		{"changed host keeps masked key=value password",
			`{"connectionString": "host=db2 password=********"}`,
			`{"connectionString": "host=db1 password='s3 cret'"}`,
			`{"connectionString": "host=db2 password='s3 cret'"}`},
		{"switching to url form keeps the password",
			`{"connectionString": "postgres://app:********@db2/emr"}`,
			`{"connectionString": "host=db1 password='p@ss word'"}`,
			`{"connectionString": "postgres://app:p%40ss%20word@db2/emr"}`},
		{"switching to key=value form keeps the password",
			`{"connectionString": "host=db2 password=********"}`,
			`{"connectionString": "postgres://app:it's@db1/emr"}`,
			`{"connectionString": "host=db2 password='it\\'s'"}`},
		{"new password replaces stored one",
			`{"connectionString": "postgres://app:fresh@db1/emr"}`,
			`{"connectionString": "postgres://app:s3cret@db1/emr"}`,
			`{"connectionString": "postgres://app:fresh@db1/emr"}`},
	}
	for _, tt := range tests {
		stored := decode(t, tt.stored, false)
		before := fmt.Sprint(stored)
		got := MergeMasked(decode(t, tt.incoming, false), stored)
		if want := decode(t, tt.want, false); !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %v\nwant %v", tt.name, got, want)
		}
		if got == nil {
			t.Errorf("%s: MergeMasked returned nil", tt.name)
		}
		if fmt.Sprint(stored) != before {
			t.Errorf("%s: MergeMasked modified stored: %v", tt.name, stored)
		}
	}
}
