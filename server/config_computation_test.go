package server

import (
	"strings"
	"testing"

	"github.com/panels/panels/store/formula"
)

func TestConfigComputation(t *testing.T) {
	cfg, err := ConfigFromEnv(cfgEnv(cfgWith()))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Computation{Formula: formula.Limits{MaxText: 64 << 10, MaxGrowth: 16 << 20}, RowsPageMaxBytes: 4 << 20}); cfg.Computation != want {
		t.Errorf("defaults %+v, want %+v", cfg.Computation, want)
	}
	cfg, err = ConfigFromEnv(cfgEnv(cfgWith("FORMULA_MAX_TEXT_BYTES", "1KiB", "FORMULA_MAX_GROWTH_BYTES", "2048", "ROWS_PAGE_MAX_BYTES", "1MB")))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Computation{Formula: formula.Limits{MaxText: 1024, MaxGrowth: 2048}, RowsPageMaxBytes: 1000000}); cfg.Computation != want {
		t.Errorf("parsed %+v, want %+v", cfg.Computation, want)
	}
	if !strings.Contains(cfg.String(), "formula_max_text_bytes=1024") {
		t.Errorf("the start-up line lists the bounds: %s", cfg.String())
	}
	for _, tc := range [][2]string{
		{"FORMULA_MAX_TEXT_BYTES", "0"}, {"FORMULA_MAX_TEXT_BYTES", "lots"}, {"FORMULA_MAX_TEXT_BYTES", "2GiB"},
		{"FORMULA_MAX_GROWTH_BYTES", "1KiB"}, // below the text limit
		{"ROWS_PAGE_MAX_BYTES", "0"}, {"ROWS_PAGE_MAX_BYTES", "-1"},
	} {
		_, err := ConfigFromEnv(cfgEnv(cfgWith(tc[0], tc[1])))
		if err == nil || !strings.HasPrefix(err.Error(), tc[0]+":") {
			t.Errorf("%s=%s: want an error naming it, got %v", tc[0], tc[1], err)
		}
	}
}
