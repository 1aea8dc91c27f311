package client_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	client "github.com/panels/panels/clients/go"
)

// cutAfterFirstEvent drops the first connection right after its first event, as a network
// would; later connections pass through.
type cutAfterFirstEvent struct {
	mu       sync.Mutex
	requests []*http.Request
}

func (c *cutAfterFirstEvent) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.requests = append(c.requests, req)
	first := len(c.requests) == 1
	c.mu.Unlock()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil && first {
		resp.Body = &cutBody{ReadCloser: resp.Body}
	}
	return resp, err
}

type cutBody struct {
	io.ReadCloser
	seen []byte
}

func (b *cutBody) Read(p []byte) (int, error) {
	if bytes.Contains(b.seen, []byte("\nid: ")) && bytes.Contains(b.seen[bytes.Index(b.seen, []byte("\nid: ")):], []byte("\n\n")) {
		return 0, io.ErrUnexpectedEOF
	}
	n, err := b.ReadCloser.Read(p[:min(len(p), 64)])
	b.seen = append(b.seen, p[:n]...)
	return n, err
}

// FollowEvents reconnects with the last id it received and misses nothing of what happened
// while it was disconnected.
func TestFollowEventsResumesAfterADroppedConnection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	api, err := client.NewClientWithResponses(serverURL, client.WithRequestEditorFn(bearer(devToken)))
	if err != nil {
		t.Fatal(err)
	}
	rt := &cutAfterFirstEvent{}
	var got []client.PanelChange
	done := errors.New("done")
	created := make(chan struct{})
	go func() { // the stream begins when it opens: write until the first event comes
		for {
			select {
			case <-created:
				return
			case <-time.After(100 * time.Millisecond):
			}
			_, _ = api.CreatePanelWithResponse(ctx, nil, client.PanelCreate{Name: "first"})
		}
	}()
	go func() {
		<-created
		for _, name := range []string{"while away 1", "while away 2"} {
			if r, err := api.CreatePanelWithResponse(ctx, nil, client.PanelCreate{Name: name}); err != nil || r.JSON201 == nil {
				t.Errorf("create %s: %v", name, err)
			}
		}
	}()
	err = client.FollowEvents(ctx, serverURL, client.StreamOptions{
		Token:      func(context.Context) (string, error) { return devToken, nil },
		Params:     client.StreamEventsParams{Types: []client.StreamEventType{client.StreamPanelCreated}},
		HTTPClient: &http.Client{Transport: rt},
		Retry:      10 * time.Millisecond,
	}, func(ev client.Event) error {
		c, err := ev.Change()
		if err != nil {
			return err
		}
		got = append(got, c)
		if len(got) == 1 {
			close(created) // the connection drops now; these are written while it is down
		}
		if c.PanelName == "while away 2" {
			return done
		}
		return nil
	})
	if !errors.Is(err, done) {
		t.Fatalf("FollowEvents: %v", err)
	}
	var names []string
	var ids []int64
	for _, c := range got {
		if c.PanelName != "first" {
			names = append(names, c.PanelName)
		}
		ids = append(ids, c.Id)
	}
	if !slices.Equal(names, []string{"while away 1", "while away 2"}) || !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
		t.Errorf("events %q, ids %v", names, ids)
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if len(rt.requests) < 2 || rt.requests[1].Header.Get("Last-Event-ID") != strconv.FormatInt(got[0].Id, 10) {
		t.Errorf("the reconnection did not resume from %d: %d requests", got[0].Id, len(rt.requests))
	}
}
