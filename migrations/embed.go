// Package migrations embeds the SQL schema migrations (golang-migrate format) into the binary.
package migrations

import "embed"

// FS holds NNNN_name.up.sql / .down.sql files.
//
//go:embed *.sql
var FS embed.FS
