package config

import (
	"bytes"
	"fmt"
	"strings"
)

// The README's table sits between these markers; everything outside them is left alone.
const (
	BeginMarker = "<!-- config:begin (generated from server/config/settings.go by `make config-docs`) -->"
	EndMarker   = "<!-- config:end -->"
)

// Markdown is the configuration table of README.md: one row per setting, in table order.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| Variable | Default | Value | Meaning |\n|---|---|---|---|\n")
	for _, s := range settings {
		def := "(none)"
		if s.Default != "" {
			def = "`" + s.Default + "`"
		}
		unit := s.Unit
		if s.Secret {
			unit += "; secret, masked in the log"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", s.Name, def, unit, s.Doc)
	}
	return b.String()
}

// UpdateReadme replaces the table between the markers of readme with Markdown.
func UpdateReadme(readme []byte) ([]byte, error) {
	begin := bytes.Index(readme, []byte(BeginMarker+"\n"))
	end := bytes.Index(readme, []byte(EndMarker))
	if begin < 0 || end < begin {
		return nil, fmt.Errorf("want the lines %q and %q around the configuration table", BeginMarker, EndMarker)
	}
	var out bytes.Buffer
	out.Write(readme[:begin+len(BeginMarker)+1])
	out.WriteString(Markdown())
	out.Write(readme[end:])
	return out.Bytes(), nil
}
