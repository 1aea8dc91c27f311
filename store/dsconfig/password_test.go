package dsconfig

import "testing"

func TestConnPassword(t *testing.T) {
	for s, want := range map[string]string{
		"postgres://u:s%40cret@h/db":          "s@cret",
		"postgres://u@h/db?password=q":        "q",
		"host=h user=u password='a b'":        "a b",
		"postgres://u@h/db":                   "",
		"host=h user=u":                       "",
		"postgres://u:p@h/db?sslpassword=zzz": "p",
	} {
		if got := ConnPassword(s); got != want {
			t.Errorf("ConnPassword(%q) = %q, want %q", s, got, want)
		}
	}
}
