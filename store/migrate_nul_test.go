package store

import (
	"strings"
	"testing"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/panels/panels/store/storetest"
)

// TestMigrationRepairsNULEscapes writes rows the way the service did before it refused NULs (Bun's own
// dialect, with a NUL in jsonb values and keys), checks what PostgreSQL stored, then runs
// migration 0005 and checks that the values hold U+FFFD instead and that the rows are writable.
func TestMigrationRepairsNULEscapes(t *testing.T) {
	dsn, drop, err := storetest.CreateDatabase("panels_store_nulfix")
	if err != nil {
		t.Fatal(err)
	}
	defer drop()
	m, err := NewMigrator(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	for { // back to 0004, the schema the old rows were written under
		v, _, _, err := m.Version()
		if err != nil {
			t.Fatal(err)
		}
		if v <= 4 {
			break
		}
		if err := m.Down(); err != nil {
			t.Fatal(err)
		}
	}
	st, err := Open(dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	old := bun.NewDB(st.db.DB, pgdialect.New()) // the quoting the service used before
	p := &Panel{TenantID: "nulfix", OwnerUserID: "u", Name: "P", CohortRule: DefaultCohortRule(),
		Metadata: map[string]any{"x": "a\x00b", "k\x00": "v", "deep": []any{map[string]any{"y": "\\\x00"}}, "ok": "plain"}}
	if _, err := old.NewInsert().Model(p).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	ds := &DataSource{TenantID: "nulfix", PanelID: p.ID, Type: "custom", Config: map[string]any{"note": "\x00"}}
	if _, err := old.NewInsert().Model(ds).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	text := func(q string, args ...any) string {
		t.Helper()
		var s string
		if err := st.db.NewRaw(q, args...).Scan(ctx, &s); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return s
	}
	// What PostgreSQL stored: the six characters \u0000 where the NUL was.
	if got := text(`SELECT metadata->>'x' FROM panels WHERE id = ?`, p.ID); got != `a\u0000b` {
		t.Fatalf("stored before the repair: %q, want the text a\\u0000b", got)
	}
	// ... which the old quoting cannot write back: the poisoned row of the issue.
	var poisoned Panel
	if err := old.NewSelect().Model(&poisoned).Where("id = ?", p.ID).Scan(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := old.NewUpdate().Model(&poisoned).Column("metadata").WherePK().Exec(ctx); err == nil ||
		!strings.Contains(err.Error(), "22P05") {
		t.Fatalf("writing the stored value back with the old quoting: %v, want 22P05", err)
	}

	if err := m.Up(); err != nil {
		t.Fatalf("0005 up: %v", err)
	}
	for q, want := range map[string]string{
		`SELECT metadata->>'x' FROM panels WHERE id = ?`:                 "a\uFFFDb",
		`SELECT metadata->>'k` + "\uFFFD" + `' FROM panels WHERE id = ?`: "v",
		`SELECT metadata#>>'{deep,0,y}' FROM panels WHERE id = ?`:        "\\\uFFFD",
		`SELECT metadata->>'ok' FROM panels WHERE id = ?`:                "plain",
	} {
		if got := text(q, p.ID); got != want {
			t.Errorf("%s: %q, want %q", q, got, want)
		}
	}
	if got := text(`SELECT config->>'note' FROM data_sources WHERE id = ?`, ds.ID); got != "\uFFFD" {
		t.Errorf("config.note: %q, want U+FFFD", got)
	}
	var repaired Panel
	if err := st.db.NewSelect().Model(&repaired).Where("id = ?", p.ID).Scan(ctx); err != nil {
		t.Fatal(err)
	}
	repaired.Name = "Renamed"
	if _, err := st.db.NewUpdate().Model(&repaired).Column("name", "metadata").WherePK().Exec(ctx); err != nil {
		t.Fatalf("write after the repair: %v", err)
	}
	if err := m.Down(); err != nil {
		t.Fatalf("0005 down: %v", err)
	}
	if err := m.Up(); err != nil {
		t.Fatalf("0005 up again: %v", err)
	}
}

// TestDialectQuotesJSONEscapesWhole: the text \u0000 stays text, a NUL escape becomes U+FFFD,
// quotes are doubled, whatever backslashes come before them.
func TestDialectQuotesJSONEscapesWhole(t *testing.T) {
	for in, want := range map[string]string{
		`{"x":"\\u0000"}`:      `'{"x":"\\u0000"}'`,
		`{"x":"\u0000"}`:       `'{"x":"\ufffd"}'`,
		`{"x":"\\\u0000"}`:     `'{"x":"\\\ufffd"}'`,
		`{"x":"\\\\u0000"}`:    `'{"x":"\\\\u0000"}'`,
		`{"it's":"\\'\""}`:     `'{"it''s":"\\''\""}'`,
		`{"n":1,"u":"\u00e9"}`: `'{"n":1,"u":"\u00e9"}'`,
	} {
		if got := string(newDialect().AppendJSON(nil, []byte(in))); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}
