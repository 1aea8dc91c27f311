package config

import (
	"strings"
	"testing"

	"github.com/panels/panels/store/formula"
)

func TestConfigComputationBounds(t *testing.T) {
	cfg, err := FromEnv(cfgEnv(cfgWith()))
	if err != nil {
		t.Fatal(err)
	}
	if want := (formula.Limits{MaxText: 64 << 10, MaxGrowth: 16 << 20}); cfg.Formula != want || cfg.RowsPageMaxBytes != 4<<20 {
		t.Errorf("defaults %+v and %d, want %+v and %d", cfg.Formula, cfg.RowsPageMaxBytes, want, 4<<20)
	}
	cfg, err = FromEnv(cfgEnv(cfgWith("FORMULA_MAX_TEXT_BYTES", "1KiB", "FORMULA_MAX_GROWTH_BYTES", "2048", "ROWS_PAGE_MAX_BYTES", "1MB")))
	if err != nil {
		t.Fatal(err)
	}
	if want := (formula.Limits{MaxText: 1024, MaxGrowth: 2048}); cfg.Formula != want || cfg.RowsPageMaxBytes != 1000000 {
		t.Errorf("parsed %+v and %d, want %+v and %d", cfg.Formula, cfg.RowsPageMaxBytes, want, 1000000)
	}
	if !strings.Contains(cfg.String(), "FORMULA_MAX_TEXT_BYTES=1024") {
		t.Errorf("the start-up line lists the bounds: %s", cfg.String())
	}
	for _, tc := range [][2]string{
		{"FORMULA_MAX_TEXT_BYTES", "0"}, {"FORMULA_MAX_TEXT_BYTES", "lots"}, {"FORMULA_MAX_TEXT_BYTES", "2GiB"},
		{"FORMULA_MAX_GROWTH_BYTES", "1KiB"}, // below the text limit
		{"ROWS_PAGE_MAX_BYTES", "0"}, {"ROWS_PAGE_MAX_BYTES", "-1"},
	} {
		_, err := FromEnv(cfgEnv(cfgWith(tc[0], tc[1])))
		if err == nil || !strings.HasPrefix(err.Error(), tc[0]+":") {
			t.Errorf("%s=%s: want an error naming it, got %v", tc[0], tc[1], err)
		}
	}
}
