// Package webhook delivers the webhook queue (store/webhooks.go): every instance runs a Worker,
// and the queue's leases let them share it. Deliveries are signed per the Standard Webhooks
// specification (https://www.standardwebhooks.com).
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/panels/panels/store"
)

// SecretPrefix starts every webhook secret; the rest is the base64 of the signing key.
const SecretPrefix = "whsec_"

// Sign returns the webhook-signature header value of a message: "v1," and the base64 of the
// HMAC-SHA256 of "id.timestamp.body", keyed with the decoded secret.
func Sign(secret, id string, timestamp int64, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil {
		return "", fmt.Errorf("webhook secret is not base64: %w", err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// Options configure a Worker.
type Options struct {
	Schedule    []time.Duration // waits before each retry
	MaxFailures int             // consecutive failures that disable a webhook
	Poll        time.Duration   // how often to look for due deliveries when the queue was empty
	Timeout     time.Duration   // bound of one attempt
	Workers     int             // attempts at once
	// Lease is how long a claim is held; 0: twice Timeout, so that only a dead worker loses one.
	Lease time.Duration
}

// Encoder renders a change as the body's data, the same JSON that listPanelChanges returns.
type Encoder func(*store.Change) any

// Worker claims due deliveries and attempts them.
type Worker struct {
	store  *store.Store
	client *http.Client
	log    *slog.Logger
	opts   Options
	encode Encoder
	now    func() time.Time

	stop context.CancelFunc
	done chan struct{}
}

// New returns a Worker sending through client, which must apply the outbound address guard.
// Redirects are followed only to the same host (and never from https to http).
func New(st *store.Store, client *http.Client, log *slog.Logger, opts Options, encode Encoder) *Worker {
	if opts.Lease == 0 {
		opts.Lease = 2 * opts.Timeout
	}
	c := *client
	c.Timeout = opts.Timeout
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		first := via[0].URL
		if len(via) >= 5 || req.URL.Host != first.Host || (first.Scheme == "https" && req.URL.Scheme != "https") {
			return http.ErrUseLastResponse // the 3xx is then the answer, and a failure
		}
		return nil
	}
	return &Worker{store: st, client: &c, log: log, opts: opts, encode: encode, now: time.Now}
}

// Start runs the worker until Stop.
func (w *Worker) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	w.stop, w.done = cancel, make(chan struct{})
	go func() {
		defer close(w.done)
		w.run(ctx)
	}()
}

// Stop stops claiming and waits for the attempts under way (each bounded by Timeout) to be
// recorded, so that a clean shutdown leaves no lease to wait out.
func (w *Worker) Stop() {
	if w.stop == nil {
		return
	}
	w.stop()
	<-w.done
}

// run keeps up to Workers attempts in flight: a slot that frees up is refilled at once, so that a
// slow receiver holds one slot for up to Timeout and never the others. It claims only as many
// deliveries as it has free slots, leaving the rest of the queue to the other instances.
func (w *Worker) run(ctx context.Context) {
	slots := make(chan struct{}, w.opts.Workers)
	freed := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		free := w.opts.Workers - len(slots)
		var wait <-chan time.Time
		if free > 0 {
			claims, err := w.store.ClaimDeliveries(ctx, free, w.opts.Lease)
			if err != nil && ctx.Err() == nil {
				w.log.Warn("webhook worker: claim failed", "error", err)
			}
			for i := range claims {
				slots <- struct{}{}
				wg.Add(1)
				go func(c *store.Claim) {
					defer wg.Done()
					w.deliver(c)
					<-slots
					select {
					case freed <- struct{}{}:
					default:
					}
				}(&claims[i])
			}
			if err != nil || len(claims) < free {
				wait = time.After(w.opts.Poll) // the queue has nothing more due now
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-freed:
		case <-wait: // nil while every slot is busy: only a freed slot wakes the loop
		}
	}
}

// Once claims up to Workers due deliveries, attempts them concurrently and records each outcome;
// it returns how many it claimed.
func (w *Worker) Once(ctx context.Context) (int, error) {
	claims, err := w.store.ClaimDeliveries(ctx, w.opts.Workers, w.opts.Lease)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	for i := range claims {
		wg.Add(1)
		go func(c *store.Claim) {
			defer wg.Done()
			w.deliver(c)
		}(&claims[i])
	}
	wg.Wait()
	return len(claims), nil
}

// Payload is the body of a delivery.
type Payload struct {
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	Data      any    `json:"data"`
}

// deliver attempts one claim and records the outcome. It runs to the end even when the worker
// is stopping: an attempt already sent must be recorded, or it would be sent again.
func (w *Worker) deliver(c *store.Claim) {
	ctx, cancel := context.WithTimeout(context.Background(), w.opts.Timeout)
	defer cancel()
	at := w.attempt(ctx, c)
	rec, cancelRec := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelRec()
	if err := w.store.FinishDelivery(rec, c, at, w.opts.Schedule, w.opts.MaxFailures); err != nil {
		// The lease runs out and another attempt follows: at least once, never lost.
		w.log.Warn("webhook worker: recording an attempt failed", "delivery", c.ID, "error", err)
	}
}

func (w *Worker) attempt(ctx context.Context, c *store.Claim) store.Attempt {
	now := w.now()
	body, err := jsonBody(Payload{Type: c.Change.ChangeType, Timestamp: c.Change.ChangedAt.UTC().Format(time.RFC3339Nano), Data: w.encode(&c.Change)})
	if err != nil {
		return store.Attempt{Error: "encode: " + err.Error()}
	}
	id := strconv.FormatInt(c.ChangeID, 10)
	sig, err := Sign(c.Secret, id, now.Unix(), body)
	if err != nil {
		return store.Attempt{Error: err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return store.Attempt{Error: "request: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Panels-Webhooks/1")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	start := time.Now()
	resp, err := w.client.Do(req)
	latency := time.Since(start)
	if err != nil {
		msg := err.Error()
		if errors.Is(err, context.DeadlineExceeded) {
			msg = fmt.Sprintf("no answer within %s", w.opts.Timeout)
		}
		return store.Attempt{Latency: latency, Error: msg}
	}
	// Read a little of the body, so that the connection can be reused, and keep it for the error.
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_ = resp.Body.Close()
	at := store.Attempt{StatusCode: resp.StatusCode, Latency: latency, OK: resp.StatusCode >= 200 && resp.StatusCode < 300}
	if !at.OK {
		at.Error = fmt.Sprintf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(snippet)))
	}
	return at
}

func jsonBody(p Payload) ([]byte, error) { return json.Marshal(p) }
