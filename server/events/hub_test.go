package events_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/panels/panels/server/events"
	"github.com/panels/panels/store"
	"github.com/panels/panels/store/storetest"
)

var testStore *store.Store

func TestMain(m *testing.M) {
	dsn, drop, err := storetest.CreateDatabase("panels_events_test")
	if err != nil {
		panic(err)
	}
	code := func() int {
		defer drop()
		mig, err := store.NewMigrator(dsn)
		if err != nil {
			panic(err)
		}
		if err := mig.Up(); err != nil {
			panic(err)
		}
		mig.Close()
		if testStore, err = store.Open(dsn, store.Options{MaxOpenConns: 4}); err != nil {
			panic(err)
		}
		defer testStore.Close()
		return m.Run()
	}()
	os.Exit(code)
}

// rowSource is the store's outbox without the API's JSON, which this package does not need.
type rowSource struct{ st *store.Store }

func (r rowSource) Horizon(ctx context.Context) (string, error) { return r.st.EventHorizon(ctx) }
func (r rowSource) Latest(ctx context.Context, h string) (store.EventPosition, error) {
	return r.st.LatestEventPosition(ctx, h)
}
func (r rowSource) Grants(ctx context.Context, tenant string) (map[string][]int64, error) {
	return r.st.PanelGrants(ctx, tenant)
}
func (r rowSource) Tail(ctx context.Context, after store.EventPosition, h string, limit int) ([]events.Event, error) {
	rows, err := r.st.TailEvents(ctx, after, h, limit)
	if err != nil {
		return nil, err
	}
	out := make([]events.Event, len(rows))
	for i, row := range rows {
		out[i] = events.Event{Position: row.Position, Tenant: row.TenantID(), ID: row.Position.ID, Name: row.Change.ChangeType,
			PanelID: row.Change.PanelID}
		out[i].Frame = events.NewFrame(out[i].ID, out[i].Name, nil)
	}
	return out, nil
}

func startHub(t *testing.T, opt events.Options) *events.Hub {
	t.Helper()
	opt.Poll = 10 * time.Millisecond
	h := events.New(rowSource{testStore}, opt)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go h.Run(ctx)
	return h
}

func admin(tenant string) store.Actor {
	return store.Actor{TenantID: tenant, UserID: "admin", Admin: true}
}

func subscriber(a store.Actor) events.Subscriber {
	return events.Subscriber{Tenant: a.TenantID, UserID: a.UserID, Admin: a.Admin, Principals: a.Principals(), Recipients: a.RecipientIDs()}
}

// A subscriber that does not read is cut off once its buffer is full; the others keep receiving
// everything, and the tail never waits for the slow one.
func TestASlowSubscriberIsCutOffAlone(t *testing.T) {
	h := startHub(t, events.Options{Buffer: 2, MaxPerUser: 10})
	a := admin("hub-slow")
	slow, err := h.Subscribe(t.Context(), subscriber(a))
	if err != nil {
		t.Fatal(err)
	}
	fast, err := h.Subscribe(t.Context(), subscriber(a))
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for i := range 5 {
		if err := testStore.CreatePanel(t.Context(), a, &store.Panel{Name: "p" + string(rune('0'+i))}); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-fast.Events():
			got = append(got, ev.ID)
		case <-time.After(20 * time.Second):
			t.Fatalf("the fast subscriber got %d events, then nothing", len(got))
		}
	}
	select {
	case <-slow.CutOff():
	case <-time.After(20 * time.Second):
		t.Fatal("the slow subscriber was never cut off")
	}
	select {
	case <-fast.CutOff():
		t.Error("the subscriber that kept up was cut off too")
	default:
	}
	if len(got) != 5 {
		t.Errorf("the fast subscriber got %v", got)
	}
}

// Subscriptions per user are bounded; closing one frees its place; a shut-down hub refuses.
func TestSubscriptionsPerUserAreBounded(t *testing.T) {
	h := startHub(t, events.Options{Buffer: 8, MaxPerUser: 2})
	a := admin("hub-limit")
	s1, err := h.Subscribe(t.Context(), subscriber(a))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Subscribe(t.Context(), subscriber(a)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Subscribe(t.Context(), subscriber(a)); !errors.Is(err, events.ErrTooManyStreams) {
		t.Fatalf("third subscription: %v, want ErrTooManyStreams", err)
	}
	other := subscriber(store.Actor{TenantID: "hub-limit", UserID: "someone else"})
	if _, err := h.Subscribe(t.Context(), other); err != nil {
		t.Errorf("another user: %v", err)
	}
	s1.Close()
	if _, err := h.Subscribe(t.Context(), subscriber(a)); err != nil {
		t.Errorf("after a close: %v", err)
	}
	h.Shutdown()
	if _, err := h.Subscribe(t.Context(), subscriber(a)); !errors.Is(err, events.ErrClosed) {
		t.Errorf("after shutdown: %v, want ErrClosed", err)
	}
}
