package events

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// wakeChannel is the channel migration 0010's trigger notifies when a transaction writes events.
const wakeChannel = "panels_events"

// ListenPostgres is an Options.Listen that wakes the tail on the outbox's NOTIFY, over its own
// connection to dsn. It reconnects after a failure; meanwhile the tail keeps polling.
func ListenPostgres(dsn string, log *slog.Logger) func(ctx context.Context, wake func()) {
	return func(ctx context.Context, wake func()) {
		backoff := 100 * time.Millisecond
		for ctx.Err() == nil {
			err := listenOnce(ctx, dsn, wake)
			if ctx.Err() != nil {
				return
			}
			log.Warn("event stream: listening for wake-ups failed; polling until it reconnects", "error", err.Error())
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 10*time.Second)
		}
	}
}

func listenOnce(ctx context.Context, dsn string, wake func()) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	if _, err := conn.Exec(ctx, "LISTEN "+wakeChannel); err != nil {
		return err
	}
	wake() // what was written while no one listened
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		wake()
	}
}
