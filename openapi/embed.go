// Package openapi embeds the hand-written contract, the source of truth for the generated code.
package openapi

import _ "embed"

// YAML is openapi.yaml exactly as written.
//
//go:embed openapi.yaml
var YAML []byte
