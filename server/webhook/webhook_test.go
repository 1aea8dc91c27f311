package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/panels/panels/server/webhook"
	"github.com/panels/panels/store"
	"github.com/panels/panels/store/ingest"
	"github.com/panels/panels/store/storetest"
)

var testStore *store.Store

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	dsn, drop, err := storetest.CreateDatabase("panels_webhook_test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer drop()
	mig, err := store.NewMigrator(dsn)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := mig.Up(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_ = mig.Close()
	if testStore, err = store.Open(dsn, store.Options{MaxOpenConns: 4}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testStore.Close()
	return m.Run()
}

// TestSignMatchesThePublishedVector is the Standard Webhooks libraries' signing vector.
func TestSignMatchesThePublishedVector(t *testing.T) {
	got, err := webhook.Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("signature %s, want %s", got, want)
	}
	if _, err := webhook.Sign("whsec_not base64!", "id", 1, nil); err == nil {
		t.Fatal("a secret that is not base64 was accepted")
	}
}

// verify is a receiver's check, written from the specification without the package's code:
// the key is the base64 after whsec_, the content "id.timestamp.body", any v1 entry may match.
func verify(secret string, h http.Header, body []byte) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	if id == "" || ts == "" {
		return fmt.Errorf("missing webhook-id or webhook-timestamp")
	}
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil {
		return fmt.Errorf("webhook-timestamp %q: %w", ts, err)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", id, ts, body)
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		v, b64, ok := strings.Cut(sig, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("no valid v1 signature in %q", h.Get("webhook-signature"))
}

type received struct {
	header http.Header
	body   []byte
}

// receiver answers fail(n) for its n-th request (from 1) and records every request.
type receiver struct {
	mu   sync.Mutex
	reqs []received
	fail func(n int) int
	srv  *httptest.Server
}

func newReceiver(t *testing.T, fail func(n int) int) *receiver {
	r := &receiver{fail: fail}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, received{req.Header.Clone(), body})
		n := len(r.reqs)
		r.mu.Unlock()
		w.WriteHeader(r.fail(n))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.reqs...)
}

var tenantSeq int

func newTenant(prefix string) string {
	tenantSeq++
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano()%1e9, tenantSeq)
}

// fixture: an admin's panel with a webhook to url, of the given events.
func fixture(t *testing.T, url string) (store.Actor, *store.Panel, *store.Webhook) {
	t.Helper()
	ctx := context.Background()
	a := store.Actor{TenantID: newTenant("wh"), UserID: "admin", Email: "admin@example.com", Admin: true}
	p := &store.Panel{Name: "Worklist"}
	if err := testStore.CreatePanel(ctx, a, p); err != nil {
		t.Fatal(err)
	}
	w, err := testStore.CreateWebhook(ctx, a, &p.ID, store.WebhookInput{URL: url, Events: []string{"*"}}, func() error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return a, p, w
}

func rename(t *testing.T, a store.Actor, p *store.Panel, name string) {
	t.Helper()
	if _, err := testStore.UpdatePanel(context.Background(), a, p.ID, func(*store.Panel) error { return nil }, store.PanelPatch{Name: &name}); err != nil {
		t.Fatal(err)
	}
}

func newWorker(opts webhook.Options) *webhook.Worker {
	g, _ := ingest.NewGuard(nil, true) // the receivers listen on loopback
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Workers == 0 {
		opts.Workers = 4
	}
	if opts.Poll == 0 {
		opts.Poll = time.Millisecond
	}
	if opts.MaxFailures == 0 {
		opts.MaxFailures = 100
	}
	return webhook.New(testStore, g.HTTPClient(), slog.New(slog.NewTextHandler(io.Discard, nil)), opts,
		func(c *store.Change) any {
			return map[string]any{"id": c.ID, "changeType": c.ChangeType, "panelId": c.PanelID}
		})
}

// until runs the worker's passes until done reports true; the bound only ends a broken run.
func until(t *testing.T, w *webhook.Worker, done func() bool) {
	t.Helper()
	ctx := context.Background()
	bound := time.Now().Add(60 * time.Second)
	for !done() {
		if time.Now().After(bound) {
			t.Fatal("the condition was never reached")
		}
		if _, err := w.Once(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
}

func deliveries(t *testing.T, a store.Actor, w *store.Webhook) []store.Delivery {
	t.Helper()
	page, err := testStore.ListDeliveries(context.Background(), a, w.ID, "", 100, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return page.Deliveries
}

// TestDeliveryRetriedUntilReceiverSucceeds: a receiver that fails 3 times and then succeeds gets
// the event 4 times with the same webhook-id, each validly signed, and the delivery is delivered.
func TestDeliveryRetriedUntilReceiverSucceeds(t *testing.T) {
	rcv := newReceiver(t, func(n int) int {
		if n <= 3 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	a, p, wh := fixture(t, rcv.srv.URL+"/hook")
	rename(t, a, p, "Renamed")
	w := newWorker(webhook.Options{Schedule: []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond, time.Millisecond}})
	until(t, w, func() bool { d := deliveries(t, a, wh); return len(d) == 1 && d[0].Status != store.DeliveryPending })

	d := deliveries(t, a, wh)[0]
	if d.Status != store.DeliveryDelivered || d.Attempts != 4 || d.LastStatusCode == nil || *d.LastStatusCode != 204 {
		t.Fatalf("delivery %+v, want delivered after 4 attempts with 204", d)
	}
	reqs := rcv.requests()
	if len(reqs) != 4 {
		t.Fatalf("receiver got %d requests, want 4", len(reqs))
	}
	for i, r := range reqs {
		if err := verify(wh.Secret, r.header, r.body); err != nil {
			t.Errorf("attempt %d: %v", i+1, err)
		}
		if got, want := r.header.Get("webhook-id"), strconv.FormatInt(d.ChangeID, 10); got != want {
			t.Errorf("attempt %d: webhook-id %q, want %q (the event id, on every attempt)", i+1, got, want)
		}
		var body struct {
			Type      string         `json:"type"`
			Timestamp string         `json:"timestamp"`
			Data      map[string]any `json:"data"`
		}
		if err := json.Unmarshal(r.body, &body); err != nil || body.Type != store.ChangePanelUpdated || body.Timestamp == "" || body.Data["changeType"] != store.ChangePanelUpdated {
			t.Errorf("attempt %d: body %s (%v)", i+1, r.body, err)
		}
	}
	// A tampered body fails the receiver's check: the check can fail.
	if err := verify(wh.Secret, reqs[0].header, append(reqs[0].body, ' ')); err == nil {
		t.Error("the verifier accepted a tampered body")
	}
	got, err := testStore.GetWebhook(context.Background(), a, wh.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Enabled || got.ConsecutiveFailures != 0 {
		t.Errorf("webhook after a success: enabled %v, failures %d; want enabled with 0", got.Enabled, got.ConsecutiveFailures)
	}
}

// TestReceiverDownPastTheLimitDisablesAndNotifies: with the receiver always failing, the webhook
// is disabled after MaxFailures consecutive failures and its creator gets a notification.
func TestReceiverDownPastTheLimitDisablesAndNotifies(t *testing.T) {
	rcv := newReceiver(t, func(int) int { return http.StatusInternalServerError })
	a, p, wh := fixture(t, rcv.srv.URL)
	rename(t, a, p, "One")
	rename(t, a, p, "Two")
	w := newWorker(webhook.Options{MaxFailures: 3, Schedule: []time.Duration{time.Millisecond}})
	ctx := context.Background()
	until(t, w, func() bool {
		got, err := testStore.GetWebhook(ctx, a, wh.ID)
		if err != nil {
			t.Fatal(err)
		}
		return !got.Enabled
	})
	got, _ := testStore.GetWebhook(ctx, a, wh.ID)
	if got.ConsecutiveFailures != 3 || got.DisabledReason == nil {
		t.Errorf("disabled webhook: failures %d, reason %v; want 3 and a reason", got.ConsecutiveFailures, got.DisabledReason)
	}
	// Two attempts give the first event up (schedule of one retry), the third fails the second.
	ds := deliveries(t, a, wh)
	if len(ds) != 2 || ds[1].Status != store.DeliveryFailed || ds[0].Status != store.DeliveryPending {
		t.Errorf("deliveries %+v: want the older one failed, the newer pending", ds)
	}
	if n := len(rcv.requests()); n != 3 {
		t.Errorf("receiver got %d requests, want 3", n)
	}
	notes, err := testStore.ListWebhookNotifications(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 1 || notes[0].WebhookID == nil || *notes[0].WebhookID != wh.ID || !strings.Contains(notes[0].Message, "disabled") {
		t.Fatalf("creator's webhook notifications %+v, want one about webhook %d", notes, wh.ID)
	}
	// A disabled webhook is not attempted any more, and queues nothing new.
	rename(t, a, p, "Three")
	if _, err := w.Once(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(rcv.requests()); n != 3 {
		t.Errorf("a disabled webhook was attempted: %d requests", n)
	}
	if n := len(deliveries(t, a, wh)); n != 2 {
		t.Errorf("a disabled webhook queued a change: %d deliveries", n)
	}
}

// TestKilledWorkerDeliveryTakenOverAfterLease: a worker that claims a delivery and dies never
// records it; another worker delivers it once the lease has expired, and not before.
func TestKilledWorkerDeliveryTakenOverAfterLease(t *testing.T) {
	rcv := newReceiver(t, func(int) int { return http.StatusOK })
	a, p, wh := fixture(t, rcv.srv.URL)
	rename(t, a, p, "Renamed")
	ctx := context.Background()
	// The dead instance: it claims with a lease and never finishes.
	claims, err := testStore.ClaimDeliveries(ctx, 10, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	mine := 0
	for _, c := range claims {
		if c.WebhookID == wh.ID {
			mine++
		}
	}
	if mine != 1 {
		t.Fatalf("the dead worker claimed %d deliveries of the webhook, want 1", mine)
	}
	w := newWorker(webhook.Options{Schedule: []time.Duration{time.Millisecond}})
	// While the lease holds, the other worker skips it (the lease check is in the claim query).
	if again, err := testStore.ClaimDeliveries(ctx, 10, time.Minute); err != nil {
		t.Fatal(err)
	} else {
		for _, c := range again {
			if c.WebhookID == wh.ID {
				t.Fatal("a leased delivery was claimed again before its lease expired")
			}
		}
	}
	until(t, w, func() bool { d := deliveries(t, a, wh); return d[0].Status == store.DeliveryDelivered })
	d := deliveries(t, a, wh)[0]
	if d.Attempts != 2 {
		t.Errorf("attempts %d, want 2 (the dead claim and the delivery)", d.Attempts)
	}
	if n := len(rcv.requests()); n != 1 {
		t.Errorf("receiver got %d requests, want 1", n)
	}
	// The dead worker's late report changes nothing: its attempt count is stale.
	for i := range claims {
		if claims[i].WebhookID == wh.ID {
			if err := testStore.FinishDelivery(ctx, &claims[i], store.Attempt{Error: "late"}, []time.Duration{time.Millisecond}, 100); err != nil {
				t.Fatal(err)
			}
		}
	}
	if d := deliveries(t, a, wh)[0]; d.Status != store.DeliveryDelivered {
		t.Errorf("a stale report changed the delivery: %+v", d)
	}
}

// TestOrderKeptPerWebhook: the second event is not attempted while the first is pending; once
// the receiver recovers both arrive, in order. The worker runs its own loop (Start/Stop).
func TestOrderKeptPerWebhook(t *testing.T) {
	var mu sync.Mutex
	failing := true
	rcv := newReceiver(t, func(int) int {
		mu.Lock()
		defer mu.Unlock()
		if failing {
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	a, p, wh := fixture(t, rcv.srv.URL)
	rename(t, a, p, "One")
	rename(t, a, p, "Two")
	w := newWorker(webhook.Options{Schedule: []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond, time.Millisecond, time.Millisecond, time.Millisecond, time.Millisecond, time.Millisecond, time.Millisecond, time.Millisecond}})
	until(t, w, func() bool { return len(rcv.requests()) >= 3 })
	for _, r := range rcv.requests() {
		if r.header.Get("webhook-id") != rcv.requests()[0].header.Get("webhook-id") {
			t.Fatal("a later event was attempted while an earlier one was pending")
		}
	}
	mu.Lock()
	failing = false
	mu.Unlock()
	w.Start()
	bound := time.Now().Add(60 * time.Second)
	for {
		d := deliveries(t, a, wh)
		if d[0].Status == store.DeliveryDelivered && d[1].Status == store.DeliveryDelivered {
			break
		}
		if time.Now().After(bound) {
			t.Fatalf("not delivered: %+v", d)
		}
		time.Sleep(2 * time.Millisecond)
	}
	w.Stop()
	var ids []string
	for _, r := range rcv.requests() {
		if len(ids) == 0 || ids[len(ids)-1] != r.header.Get("webhook-id") {
			ids = append(ids, r.header.Get("webhook-id"))
		}
	}
	ds := deliveries(t, a, wh) // newest first
	if want := []string{strconv.FormatInt(ds[1].ChangeID, 10), strconv.FormatInt(ds[0].ChangeID, 10)}; strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Errorf("events arrived as %v, want %v", ids, want)
	}
}
