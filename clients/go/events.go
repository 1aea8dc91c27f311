package client

// Hand-written: a follower of GET /api/events (Server-Sent Events) that reconnects with
// Last-Event-ID, so that a dropped connection loses nothing.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Event is one event of the stream. Type is a change type, "notification", "reset" or
// "shutdown"; ID is empty for the last two.
type Event struct {
	ID   string
	Type string
	Data json.RawMessage
}

// Change decodes the data of a change event.
func (e Event) Change() (PanelChange, error) {
	var c PanelChange
	err := json.Unmarshal(e.Data, &c)
	return c, err
}

// Notification decodes the data of a "notification" event.
func (e Event) Notification() (ViewNotification, error) {
	var n ViewNotification
	err := json.Unmarshal(e.Data, &n)
	return n, err
}

// Reset decodes the data of a "reset" event: reload what you show, then keep following.
func (e Event) Reset() (StreamResetEvent, error) {
	var r StreamResetEvent
	err := json.Unmarshal(e.Data, &r)
	return r, err
}

// StreamOptions configure FollowEvents.
type StreamOptions struct {
	// Token returns the bearer token for each connection (a fresh one after the last expired).
	Token func(ctx context.Context) (string, error)
	// Params filter the stream; Params.LastEventID, when set, is where the first connection resumes.
	Params StreamEventsParams
	// HTTPClient defaults to a client without a timeout (a stream lives as long as its token).
	HTTPClient *http.Client
	// Retry is the wait before reconnecting until the server says otherwise (default 2 s).
	Retry time.Duration
}

// StreamError is a refusal that retrying cannot fix (400, 401, 403): FollowEvents returns it.
type StreamError struct {
	Status int
	Body   []byte
}

func (e *StreamError) Error() string { return fmt.Sprintf("GET /api/events: %d %s", e.Status, e.Body) }

// FollowEvents calls fn with every event of the stream at server, reconnecting with the last id
// after a dropped connection, an expired token or a shut-down instance (429 and 5xx answers are
// retried too), until ctx ends (it then returns ctx.Err()), fn returns an error (returned as is),
// or the server refuses the request for good (*StreamError).
func FollowEvents(ctx context.Context, server string, o StreamOptions, fn func(Event) error) error {
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	retry := o.Retry
	if retry <= 0 {
		retry = 2 * time.Second
	}
	params := o.Params
	for {
		err := followOnce(ctx, hc, server, &params, o.Token, &retry, fn)
		var refused *StreamError
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &refused):
			return err
		case err != nil && !errors.Is(err, errRetry) && !isTransport(err):
			return err // fn's own error
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retry):
		}
	}
}

var errRetry = errors.New("retry")

// transportError marks a failure of the connection itself, after which FollowEvents reconnects.
type transportError struct{ error }

func isTransport(err error) bool {
	var t transportError
	return errors.As(err, &t)
}

func followOnce(ctx context.Context, hc *http.Client, server string, params *StreamEventsParams,
	token func(context.Context) (string, error), retry *time.Duration, fn func(Event) error) error {
	req, err := NewStreamEventsRequest(server, params)
	if err != nil {
		return &StreamError{Status: 0, Body: []byte(err.Error())}
	}
	req = req.WithContext(ctx)
	req.Header.Set("Accept", "text/event-stream")
	if token != nil {
		tok, err := token(ctx)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return transportError{err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			return errRetry
		}
		return &StreamError{Status: resp.StatusCode, Body: body}
	}
	r := bufio.NewReader(resp.Body)
	var ev Event
	var data strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return transportError{err}
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if ev.Type != "" {
				ev.Data = json.RawMessage(data.String())
				if ev.ID != "" {
					id := ev.ID
					params.LastEventID = &id
				}
				if err := fn(ev); err != nil {
					return err
				}
			}
			ev, data = Event{}, strings.Builder{}
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.ID = value
		case "event":
			ev.Type = value
		case "data":
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(value)
		case "retry":
			if ms, err := strconv.Atoi(value); err == nil && ms > 0 {
				*retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
}
