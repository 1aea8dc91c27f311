package store

import (
	"database/sql"
	"testing"
)

// The definitions statement runs prepared (preparedConn): the connection that ran it keeps it,
// once for the repeated text, so a repeated request skips PostgreSQL's parsing and planning.
// TestRowsDefsMatchTheSeparateQueries holds its answers to the separate queries'.
func TestRowsDefsStatementIsPrepared(t *testing.T) {
	ctx := t.Context()
	f := newRowsFixture(t)
	for range 3 {
		if _, err := loadRowsDefs(ctx, testStore.db, f.a, opGetPanelRowsOfView, f.panel.ID, f.view.ID); err != nil {
			t.Fatal(err)
		}
	}
	// The connections that ran it are idle in the pool again (this package's tests run one at a
	// time): hold each idle connection in turn and ask it.
	var conns []*sql.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	prepared, withIt := 0, 0
	for range testStore.db.DB.Stats().Idle {
		c, err := testStore.db.DB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		var n int
		if err := c.QueryRowContext(ctx, `SELECT count(*) FROM pg_prepared_statements
			WHERE statement LIKE '%json_agg(col ORDER BY%' AND statement LIKE '%' || $1 || '%'`, f.a.TenantID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		prepared += n
		if n > 0 {
			withIt++
		}
	}
	if prepared == 0 || prepared != withIt {
		t.Fatalf("%d prepared definitions statements on %d connections, want one on each connection that ran it", prepared, withIt)
	}
}
