//go:build tools

// Package tools pins the code generator in go.mod so `go run` uses one known version.
package tools

import (
	_ "github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen"
)
