// Package docs embeds the interactive API documentation page and its assets.
package docs

import "embed"

// FS holds index.html, docs.js and the Swagger UI bundle.
//
//go:embed index.html docs.js swagger-ui-bundle.js swagger-ui.css
var FS embed.FS
