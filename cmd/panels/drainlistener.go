package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// acceptQueueWindow is how long an accept may wait, once draining, before the accept queue counts
// as empty; maxAcceptQueueDrain bounds the whole drain (the queue, then the first requests of the
// connections taken from it), so a client that keeps connecting, or connects and sends nothing,
// cannot hold shutdown open.
const (
	acceptQueueWindow   = 50 * time.Millisecond
	maxAcceptQueueDrain = 2 * time.Second
)

// drainListener lets SIGTERM serve the connections already waiting in the kernel's accept queue
// before the listener closes. Closing a listener resets every connection still in its queue: the
// client sent its request, yet it fails. After drainQueue, each Accept waits at most
// acceptQueueWindow; the first one that times out means the queue is empty, and from then on
// Accept blocks until http.Server.Shutdown closes the listener.
type drainListener struct {
	*net.TCPListener
	mu        sync.Mutex
	draining  bool
	empty     chan struct{} // closed when a draining Accept found the queue empty
	emptyOnce sync.Once
	closed    chan struct{}
	closeOnce sync.Once
}

func newDrainListener(ln *net.TCPListener) *drainListener {
	return &drainListener{TCPListener: ln, empty: make(chan struct{}), closed: make(chan struct{})}
}

func (l *drainListener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		draining := l.draining
		if draining {
			_ = l.TCPListener.SetDeadline(time.Now().Add(acceptQueueWindow))
		}
		l.mu.Unlock()
		c, err := l.TCPListener.Accept()
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, err
		}
		l.mu.Lock()
		draining = l.draining
		l.mu.Unlock()
		if !draining { // a deadline nobody set for draining: keep accepting
			continue
		}
		l.emptyOnce.Do(func() { close(l.empty) })
		<-l.closed
		return nil, net.ErrClosed
	}
}

// drainQueue lets Accept take what is already queued and returns, with the time it took, once
// the queue is empty or maxAcceptQueueDrain has passed.
func (l *drainListener) drainQueue() time.Duration {
	start := time.Now()
	l.mu.Lock()
	l.draining = true
	// Wakes an Accept that is blocked now: it returns a queued connection or times out.
	_ = l.TCPListener.SetDeadline(time.Now().Add(acceptQueueWindow))
	l.mu.Unlock()
	select {
	case <-l.empty:
	case <-l.closed:
	case <-time.After(maxAcceptQueueDrain):
	}
	return time.Since(start)
}

func (l *drainListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.TCPListener.Close()
}

// firstRequests tracks the connections that were accepted but whose first request has not yet
// reached a handler. http.Server.Shutdown drops a request it reads after shutdown began (it
// closes the connection without an answer), so drain waits for these before calling Shutdown.
type firstRequests struct {
	mu      sync.Mutex
	pending map[*pendingConn]struct{}
}

type pendingConn struct{ served atomic.Bool }

type pendingConnKey struct{}

func newFirstRequests() *firstRequests {
	return &firstRequests{pending: map[*pendingConn]struct{}{}}
}

// install hooks f into srv: ConnContext registers each accepted connection, the handler marks it
// served when its first request arrives, and ConnState forgets closed ones.
func (f *firstRequests) install(srv *http.Server) {
	conns := sync.Map{} // net.Conn → *pendingConn, for ConnState
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		p := &pendingConn{}
		f.mu.Lock()
		f.pending[p] = struct{}{}
		f.mu.Unlock()
		conns.Store(c, p)
		return context.WithValue(ctx, pendingConnKey{}, p)
	}
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateClosed || st == http.StateHijacked {
			if p, ok := conns.LoadAndDelete(c); ok {
				f.done(p.(*pendingConn))
			}
		}
	}
	next := srv.Handler
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := r.Context().Value(pendingConnKey{}).(*pendingConn); ok && !p.served.Load() {
			f.done(p)
		}
		next.ServeHTTP(w, r)
	})
}

func (f *firstRequests) done(p *pendingConn) {
	if p.served.Swap(true) {
		return
	}
	f.mu.Lock()
	delete(f.pending, p)
	f.mu.Unlock()
}

// wait returns once every accepted connection has had its first request handled (or closed), or
// at deadline; it reports how many were still waiting.
func (f *firstRequests) wait(deadline time.Time) int {
	for {
		f.mu.Lock()
		n := len(f.pending)
		f.mu.Unlock()
		if n == 0 || !time.Now().Before(deadline) {
			return n
		}
		time.Sleep(2 * time.Millisecond)
	}
}
