package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/panels/panels/store/storetest"
)

func panelCount(t *testing.T, tenant, name string) int {
	t.Helper()
	n, err := testStore.db.NewSelect().Model((*Panel)(nil)).Where("tenant_id = ?", tenant).Where("name = ?", name).Count(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

// TestOuterTransactionIsAtomic: store calls made inside an OuterTx commit with the key's record,
// or not at all; a failing call rolls back only its own savepoint.
func TestOuterTransactionIsAtomic(t *testing.T) {
	ctx := t.Context()
	a := stActor(stTenant("outer"), "u1")
	k := IdempotencyKey{TenantID: a.TenantID, UserID: a.UserID, Key: "k1"}
	hash := []byte("request-1")

	outer, rec, err := testStore.ClaimIdempotencyKey(ctx, k, "createPanel", hash, time.Hour, time.Second)
	if err != nil || rec != nil {
		t.Fatalf("claim: %v %v", err, rec)
	}
	if err := testStore.CreatePanel(outer.Context(ctx), a, &Panel{Name: "Abandoned"}); err != nil {
		t.Fatal(err)
	}
	if err := outer.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n := panelCount(t, a.TenantID, "Abandoned"); n != 0 {
		t.Fatalf("a rolled-back outer transaction left %d panels", n)
	}
	if _, err := testStore.recordedIdempotencyKey(ctx, k); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a rolled-back claim was recorded: %v", err)
	}

	outer, rec, err = testStore.ClaimIdempotencyKey(ctx, k, "createPanel", hash, time.Hour, time.Second)
	if err != nil || rec != nil {
		t.Fatalf("claim after rollback: %v %v", err, rec)
	}
	octx := outer.Context(ctx)
	failing := stActor(failChangeTenantPrefix+stTenant("outer"), "u1")
	if err := testStore.CreatePanel(octx, failing, &Panel{Name: "Fails"}); err == nil {
		t.Fatal("the test trigger did not fail the change row")
	}
	if err := testStore.CreatePanel(octx, a, &Panel{Name: "Kept"}); err != nil {
		t.Fatalf("the outer transaction is unusable after a failed savepoint: %v", err)
	}
	want := RecordedResponse{Status: 201, Headers: map[string]string{"Location": "/api/panels/1"}, Body: []byte(`{"id":1}`)}
	if err := outer.Complete(ctx, want); err != nil {
		t.Fatal(err)
	}
	if panelCount(t, a.TenantID, "Kept") != 1 || panelCount(t, failing.TenantID, "Fails") != 0 {
		t.Fatal("the outer transaction did not keep exactly the successful call")
	}

	outer, rec, err = testStore.ClaimIdempotencyKey(ctx, k, "createPanel", hash, time.Hour, time.Second)
	if err != nil || outer != nil || rec == nil || rec.Status != 201 || string(rec.Body) != `{"id":1}` || rec.Headers["Location"] != "/api/panels/1" {
		t.Fatalf("replay: %v %v %+v", err, outer, rec)
	}
	if _, _, err := testStore.ClaimIdempotencyKey(ctx, k, "createPanel", []byte("request-2"), time.Hour, time.Second); !errors.Is(err, ErrKeyReused) {
		t.Fatalf("another request under the key: %v", err)
	}
}

// TestClaimWaitsForTheHolder: a second claim of a held key blocks until the holder finishes,
// then sees its answer; a holder that outlasts the wait gets ErrKeyInProgress.
func TestClaimWaitsForTheHolder(t *testing.T) {
	ctx := t.Context()
	a := stActor(stTenant("claimwait"), "u1")
	k := IdempotencyKey{TenantID: a.TenantID, UserID: a.UserID, Key: "k"}
	holder, _, err := testStore.ClaimIdempotencyKey(ctx, k, "createPanel", []byte("h"), time.Hour, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, _, err := testStore.ClaimIdempotencyKey(ctx, k, "createPanel", []byte("h"), time.Hour, 200*time.Millisecond); !errors.Is(err, ErrKeyInProgress) {
		t.Fatalf("held key: %v", err)
	}
	if waited := time.Since(start); waited < 150*time.Millisecond || waited > 3*time.Second {
		t.Errorf("waited %s for a 200ms bound", waited)
	}
	done := make(chan *RecordedResponse, 1)
	go func() {
		_, rec, err := testStore.ClaimIdempotencyKey(context.Background(), k, "createPanel", []byte("h"), time.Hour, 5*time.Second)
		if err != nil {
			t.Error(err)
		}
		done <- rec
	}()
	time.Sleep(100 * time.Millisecond)
	if err := holder.Complete(ctx, RecordedResponse{Status: 201, Body: []byte("first")}); err != nil {
		t.Fatal(err)
	}
	if rec := <-done; rec == nil || string(rec.Body) != "first" {
		t.Fatalf("the waiting claim got %+v, want the holder's answer", rec)
	}
}

// TestStatementTimeout: a statement running past the configured timeout is cancelled by
// PostgreSQL and surfaces as ErrUnavailable (503), not as a hang or a 500.
func TestStatementTimeout(t *testing.T) {
	st, err := Open(storetest.AdminURL(), Options{MaxOpenConns: 2, StatementTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var setting string
	if err := st.db.QueryRowContext(t.Context(), "SHOW statement_timeout").Scan(&setting); err != nil || setting != "100ms" {
		t.Fatalf("statement_timeout = %q, %v", setting, err)
	}
	start := time.Now()
	err = st.InTx(t.Context(), func(ctx context.Context, tx bun.Tx) error {
		_, err := tx.ExecContext(ctx, "SELECT pg_sleep(2)")
		return err
	})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a statement past the timeout: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("cancelled after %s", took)
	}
}

func TestPurgeIdempotencyKeys(t *testing.T) {
	ctx := t.Context()
	tenant := stTenant("purge")
	for i, ttl := range []time.Duration{-time.Minute, -time.Second, time.Hour} {
		o, _, err := testStore.ClaimIdempotencyKey(ctx, IdempotencyKey{TenantID: tenant, UserID: "u", Key: string(rune('a' + i))}, "createPanel", []byte("h"), ttl, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Complete(ctx, RecordedResponse{Status: 201, Body: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := testStore.PurgeIdempotencyKeys(ctx); err != nil {
		t.Fatal(err)
	}
	left, err := testStore.db.NewSelect().Model((*idempotencyRow)(nil)).Where("tenant_id = ?", tenant).Count(ctx)
	if err != nil || left != 1 {
		t.Fatalf("%d keys left after the purge (%v), want the one that has not expired", left, err)
	}
}
