package server

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// redisMonitor connects to Redis in the background: rueidis refuses to build a client while the
// server is unreachable, and the service must start (degraded) without it.
type redisMonitor struct {
	disabled bool
	client   atomic.Pointer[rueidis.Client]
	stop     context.CancelFunc
	wg       sync.WaitGroup
}

func startRedisMonitor(ctx context.Context, rawURL string, log *slog.Logger) *redisMonitor {
	ctx, cancel := context.WithCancel(ctx)
	m := &redisMonitor{stop: cancel}
	opt, err := rueidis.ParseURL(rawURL)
	if err != nil {
		log.Error("REDIS_URL cannot be parsed; running without Redis", "error", err.Error())
		m.disabled = true
		return m
	}
	opt.Dialer.Timeout = time.Second
	opt.ConnWriteTimeout = time.Second
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		backoff := 200 * time.Millisecond
		for {
			c, err := rueidis.NewClient(opt)
			if err == nil {
				m.client.Store(&c)
				log.Info("connected to Redis")
				return
			}
			log.Warn("Redis unreachable; running degraded and retrying", "error", err.Error(), "retry_in", backoff.String())
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 10*time.Second)
		}
	}()
	return m
}

// Status is "up", "down" or "disabled" (no client could ever be configured).
func (m *redisMonitor) Status(ctx context.Context) string {
	if m.disabled {
		return "disabled"
	}
	c := m.client.Load()
	if c == nil {
		return "down"
	}
	ctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := (*c).Do(ctx, (*c).B().Ping().Build()).Error(); err != nil {
		return "down"
	}
	return "up"
}

// Close stops reconnecting and closes the client.
func (m *redisMonitor) Close() {
	m.stop()
	m.wg.Wait()
	if c := m.client.Load(); c != nil {
		(*c).Close()
	}
}
