package server

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/panels/panels/store/ingest"
)

// DataFlow is the part of Config for syncs, uploads and pushes.
type DataFlow struct {
	// APISourceBaseURL resolves the `endpoint` of api sources (API_SOURCE_BASE_URL; none: such a
	// source's sync fails with a message saying so).
	APISourceBaseURL string
	// SyncAllowHosts opens host names, addresses or CIDR prefixes that the address guard refuses
	// by default (SYNC_ALLOW_HOSTS, comma-separated); SyncAllowPrivate opens every non-public
	// address except the cloud metadata endpoints (SYNC_ALLOW_PRIVATE, for development).
	SyncAllowHosts   []string
	SyncAllowPrivate bool
	// SyncTimeout bounds a whole sync, fetch and store (SYNC_TIMEOUT); an api source's timeoutMs
	// and a database source's statement timeout may only shorten it.
	SyncTimeout time.Duration
	// SyncMaxBytes bounds an api source's response (SYNC_MAX_BYTES); SyncMaxRecords any sync
	// (SYNC_MAX_RECORDS).
	SyncMaxBytes   int64
	SyncMaxRecords int
	// UploadLimit bounds upload and push bodies, which stream past BODY_LIMIT (UPLOAD_LIMIT).
	UploadLimit int64
}

// parseDataFlow reads the DataFlow settings into cfg.
func parseDataFlow(cfg *Config, get func(name, def string) string) error {
	d := &cfg.DataFlow
	d.APISourceBaseURL = get("API_SOURCE_BASE_URL", "")
	if d.APISourceBaseURL != "" {
		u, err := url.Parse(d.APISourceBaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("API_SOURCE_BASE_URL: want an http(s) URL such as https://fhir.example.com/api, got %q", d.APISourceBaseURL)
		}
	}
	for _, h := range strings.Split(get("SYNC_ALLOW_HOSTS", ""), ",") {
		if h = strings.TrimSpace(h); h != "" {
			d.SyncAllowHosts = append(d.SyncAllowHosts, h)
		}
	}
	if _, err := ingest.NewGuard(d.SyncAllowHosts, false); err != nil {
		return fmt.Errorf("SYNC_ALLOW_HOSTS: %w", err)
	}
	switch v := get("SYNC_ALLOW_PRIVATE", "false"); v {
	case "true", "1", "yes":
		d.SyncAllowPrivate = true
	case "false", "0", "no":
	default:
		return fmt.Errorf("SYNC_ALLOW_PRIVATE: want true or false, got %q", v)
	}
	var err error
	if d.SyncTimeout, err = time.ParseDuration(get("SYNC_TIMEOUT", "2m")); err != nil || d.SyncTimeout <= 0 {
		return fmt.Errorf("SYNC_TIMEOUT: want a positive duration such as 2m, got %q", get("SYNC_TIMEOUT", ""))
	}
	if d.SyncMaxBytes, err = parseBytes(get("SYNC_MAX_BYTES", "50MiB")); err != nil || d.SyncMaxBytes < 1 {
		return fmt.Errorf("SYNC_MAX_BYTES: want a size such as 50MiB, got %q", get("SYNC_MAX_BYTES", ""))
	}
	if d.UploadLimit, err = parseBytes(get("UPLOAD_LIMIT", "50MiB")); err != nil || d.UploadLimit < 1 {
		return fmt.Errorf("UPLOAD_LIMIT: want a size such as 50MiB, got %q", get("UPLOAD_LIMIT", ""))
	}
	if d.SyncMaxRecords, err = strconv.Atoi(get("SYNC_MAX_RECORDS", "1000000")); err != nil || d.SyncMaxRecords < 1 {
		return fmt.Errorf("SYNC_MAX_RECORDS: want a positive integer, got %q", get("SYNC_MAX_RECORDS", ""))
	}
	return nil
}
