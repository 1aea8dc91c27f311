// Command baseline serves the benchmark's bare baselines: the bytes of GET /api/panels/{id}
// with nothing else (B0), read with one pgx point SELECT (B1), after one single-row INSERT in a
// transaction (B2), and read with one Redis GET through rueidis (B3). The service's cases are
// reported as ratios to these, measured in the same run on the same machine.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/redis/rueidis"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	dsn := flag.String("db", "", "PostgreSQL URL")
	redisURL := flag.String("redis", "redis://127.0.0.1:6379", "Redis URL")
	bodyFile := flag.String("body", "", "file holding the JSON bytes to serve")
	flag.Parse()
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	b := &baseline{body: body, pool: openPool(ctx, *dsn, body)}
	defer b.pool.Close()
	b.rdb = openRedis(ctx, *redisURL, body)
	defer b.rdb.Close()
	b.targets = loadTargets(ctx, b.pool)

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/b0/:id", func(c echo.Context) error {
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, body)
	})
	e.GET("/b1/:id", b.pointSelect)
	e.POST("/b2", b.insert)
	e.POST("/b2-create-panel", b.createPanel)
	e.PUT("/b2-update-column", b.updateColumn)
	e.GET("/b3/:id", b.redisGet)
	srv := &http.Server{Addr: *addr, Handler: e, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

// baseline holds what the handlers share.
type baseline struct {
	body    []byte
	pool    *pgxpool.Pool
	rdb     rueidis.Client
	targets []target
	turn    atomic.Int64
}

// target is a column of the write tenant that /b2-update-column renames.
type target struct{ column, panel int64 }

// openPool connects to PostgreSQL and stores the body B1 reads.
func openPool(ctx context.Context, dsn string, body []byte) *pgxpool.Pool {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		log.Fatal(err)
	}
	setup := []string{
		`CREATE TABLE IF NOT EXISTS bench_blobs (id bigint PRIMARY KEY, body bytea NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS bench_writes (id bigserial PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`,
	}
	for _, q := range setup {
		if _, err := pool.Exec(ctx, q); err != nil {
			log.Fatal(err)
		}
	}
	if _, err := pool.Exec(ctx, `INSERT INTO bench_blobs (id, body) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body`, body); err != nil {
		log.Fatal(err)
	}
	return pool
}

// openRedis connects to Redis and stores the body B3 reads.
func openRedis(ctx context.Context, redisURL string, body []byte) rueidis.Client {
	opt, err := rueidis.ParseURL(redisURL)
	if err != nil {
		log.Fatal(err)
	}
	opt.DisableCache = true
	rdb, err := rueidis.NewClient(opt)
	if err != nil {
		log.Fatal(err)
	}
	if err := rdb.Do(ctx, rdb.B().Set().Key("bench:blob:1").Value(rueidis.BinaryString(body)).Build()).Error(); err != nil {
		log.Fatal(err)
	}
	return rdb
}

// loadTargets lists the write tenant's columns, which /b2-update-column updates in turn.
func loadTargets(ctx context.Context, pool *pgxpool.Pool) []target {
	var targets []target
	rows, err := pool.Query(ctx, `SELECT id, panel_id FROM columns WHERE tenant_id = 'bench-write' ORDER BY id`)
	if err != nil {
		log.Fatal(err)
	}
	for rows.Next() {
		var t target
		if err := rows.Scan(&t.column, &t.panel); err != nil {
			log.Fatal(err)
		}
		targets = append(targets, t)
	}
	if rows.Err() != nil || len(targets) == 0 {
		log.Fatalf("no columns of the tenant bench-write to update: %v", rows.Err())
	}
	return targets
}

func (b *baseline) pointSelect(c echo.Context) error {
	id, _ := strconv.ParseInt(c.Param("id"), 10, 64)
	var blob []byte
	if err := b.pool.QueryRow(c.Request().Context(), `SELECT body FROM bench_blobs WHERE id = $1`, id).Scan(&blob); err != nil {
		return err
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, blob)
}

func (b *baseline) insert(c echo.Context) error {
	tx, err := b.pool.Begin(c.Request().Context())
	if err != nil {
		return err
	}
	defer tx.Rollback(c.Request().Context()) //nolint:errcheck // no-op after commit
	if _, err := tx.Exec(c.Request().Context(), `INSERT INTO bench_writes (name) VALUES ($1)`, "bench"); err != nil {
		return err
	}
	if err := tx.Commit(c.Request().Context()); err != nil {
		return err
	}
	return c.Blob(http.StatusCreated, echo.MIMEApplicationJSON, b.body)
}

// createPanel is what createPanel asks of PostgreSQL (store.CreatePanel's statement, written
// out), bare: the ceiling the service's POST /api/panels could reach on this database.
func (b *baseline) createPanel(c echo.Context) error {
	if _, err := b.pool.Exec(c.Request().Context(), `WITH p AS (
		INSERT INTO panels (tenant_id, owner_user_id, name, metadata, cohort_rule)
		VALUES ('bench-baseline', 'bench', 'Baseline', '{}', '{"conditions":[],"logic":"AND"}') RETURNING *),
	owner AS (INSERT INTO acls (tenant_id, resource_type, resource_id, panel_id, user_email, permission)
		SELECT tenant_id, 'panel', id, id, 'bench@example.com', 'owner' FROM p),
	change AS (INSERT INTO panel_changes (tenant_id, panel_id, panel_name, change_type, entity_type, entity_id,
		action, description, changed_by, changed_by_email, new_values)
		SELECT tenant_id, id, name, 'panel_created', 'panel', id, 'create', 'Panel "Baseline" created', 'bench',
		'bench@example.com', '{"name":"Baseline"}'::jsonb FROM p)
	SELECT id FROM p`); err != nil {
		return err
	}
	return c.Blob(http.StatusCreated, echo.MIMEApplicationJSON, b.body)
}

// updateColumn is what updateColumn asks of PostgreSQL for a rename on a panel without views (the
// statements store.UpdateColumn runs, written out), bare, over the write tenant's columns in turn.
func (b *baseline) updateColumn(c echo.Context) error {
	n := b.turn.Add(1)
	t := b.targets[int(n)%len(b.targets)]
	ctx := c.Request().Context()
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after commit
	statements := []struct {
		sql  string
		args []any
	}{
		{`SELECT panel.*, EXISTS (SELECT 1 FROM views AS pv WHERE pv.panel_id = panel.id) AS has_views
			FROM panels AS panel WHERE panel.id = $1 AND panel.tenant_id = 'bench-write' FOR UPDATE OF panel`, []any{t.panel}},
		{`SELECT * FROM columns AS col WHERE col.panel_id = $1 ORDER BY col.id`, []any{t.panel}},
		{`UPDATE columns AS col SET name = $2, updated_at = now() WHERE col.id = $1 RETURNING updated_at`,
			[]any{t.column, fmt.Sprintf("Target %d", n)}},
		{`INSERT INTO panel_changes (tenant_id, panel_id, panel_name, change_type, entity_type, entity_id, action, description,
			changed_by, changed_by_email, old_values, new_values, affected_column)
			VALUES ('bench-write', $1, 'Write target', 'column_modified', 'column', $2, 'update', 'Column modified', 'bench',
			'bench@example.com', '{"name":"Target"}', '{"name":"Target 2"}', 'Target 2') RETURNING id, changed_at`, []any{t.panel, t.column}},
	}
	for _, st := range statements {
		rows, err := tx.Query(ctx, st.sql, st.args...)
		if err != nil {
			return err
		}
		for rows.Next() {
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, b.body)
}

func (b *baseline) redisGet(c echo.Context) error {
	blob, err := b.rdb.Do(c.Request().Context(), b.rdb.B().Get().Key("bench:blob:"+c.Param("id")).Build()).AsBytes()
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, blob)
}
