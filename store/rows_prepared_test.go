package store

import (
	"database/sql"
	"testing"
)

// The definitions statement and the record-set read run prepared (preparedConn): a connection
// that ran one keeps it, once for the repeated text, so a repeated request skips PostgreSQL's
// parsing and planning of it. TestRowsDefsMatchTheSeparateQueries holds the definitions to the
// separate queries', the other rows tests the answers.
func TestRowsStatementsArePrepared(t *testing.T) {
	ctx := t.Context()
	f := newRowsFixture(t)
	for range 3 {
		plan, err := testStore.PlanRows(ctx, f.a, RowsQuery{PanelID: f.panel.ID, ViewID: f.view.ID, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := plan.Run(ctx, func(Row) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	for _, like := range []string{"%json_agg(col ORDER BY%", "%set_config('statement_timeout'%record_sets%"} {
		t.Run(like, func(t *testing.T) { checkPrepared(t, like, f.a.TenantID) })
	}
}

// checkPrepared asks each idle connection of the pool for the statements it keeps prepared whose
// text is like like and names the tenant: at least one must, and none twice.
func checkPrepared(t *testing.T, like, tenant string) {
	ctx := t.Context()
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
			WHERE statement LIKE $1 AND statement LIKE '%' || $2 || '%'`, like, tenant).Scan(&n); err != nil {
			t.Fatal(err)
		}
		prepared += n
		if n > 0 {
			withIt++
		}
	}
	if prepared == 0 || prepared != withIt {
		t.Fatalf("%d prepared statements on %d connections, want one on each connection that ran it", prepared, withIt)
	}
}
