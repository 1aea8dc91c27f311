package server

import (
	"fmt"

	"github.com/panels/panels/store/formula"
)

// Computation bounds what a rows request computes and holds (api.md §2, "Computed values are
// bounded").
type Computation struct {
	// Formula bounds calculated columns: FORMULA_MAX_TEXT_BYTES is the longest text a formula
	// computes (a longer one is an error cell); FORMULA_MAX_GROWTH_BYTES the largest static
	// growth bound a calculated column may have (a larger one is refused with 422).
	Formula formula.Limits
	// RowsPageMaxBytes ends a rows page early (hasMore, nextCursor) once its values reach this
	// many bytes (ROWS_PAGE_MAX_BYTES); a page always holds at least one row.
	RowsPageMaxBytes int
}

// parseComputation reads the Computation settings into cfg.
func parseComputation(cfg *Config, get func(name, def string) string) error {
	c := &cfg.Computation
	text, err := parseBytes(get("FORMULA_MAX_TEXT_BYTES", "64KiB"))
	if err != nil || text < 1 || text > 1<<30 {
		return fmt.Errorf("FORMULA_MAX_TEXT_BYTES: want a size from 1 byte to 1GiB such as 64KiB, got %q", get("FORMULA_MAX_TEXT_BYTES", ""))
	}
	growth, err := parseBytes(get("FORMULA_MAX_GROWTH_BYTES", "16MiB"))
	if err != nil || growth < text {
		return fmt.Errorf("FORMULA_MAX_GROWTH_BYTES: want a size such as 16MiB, at least FORMULA_MAX_TEXT_BYTES (%d), got %q", text, get("FORMULA_MAX_GROWTH_BYTES", ""))
	}
	page, err := parseBytes(get("ROWS_PAGE_MAX_BYTES", "4MiB"))
	if err != nil || page < 1 || page > 1<<30 {
		return fmt.Errorf("ROWS_PAGE_MAX_BYTES: want a size from 1 byte to 1GiB such as 4MiB, got %q", get("ROWS_PAGE_MAX_BYTES", ""))
	}
	c.Formula = formula.Limits{MaxText: int(text), MaxGrowth: growth}
	c.RowsPageMaxBytes = int(page)
	return nil
}

// String describes the settings for the start-up log line.
func (c Computation) String() string {
	return fmt.Sprintf("formula_max_text_bytes=%d formula_max_growth_bytes=%d rows_page_max_bytes=%d",
		c.Formula.MaxText, c.Formula.MaxGrowth, c.RowsPageMaxBytes)
}
