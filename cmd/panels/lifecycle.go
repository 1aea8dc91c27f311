package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/panels/panels/server"
)

// drain shuts the service down after SIGTERM or SIGINT. Readiness turns not-ready at once; the
// listener keeps serving for SHUTDOWN_DELAY so that load balancers see it and stop sending
// traffic; then it accepts the connections already waiting in the kernel's accept queue and waits
// for their first requests (so a request that reached the queue before the listener closes is
// answered, even with the default delay of 0), stops accepting, and requests in flight get
// SHUTDOWN_TIMEOUT to finish. The
// caller closes the database and Redis afterwards, so no request loses them half-way.
func drain(log *slog.Logger, app *server.App, cfg server.Config, srv *http.Server, ln *drainListener, first *firstRequests,
	metricsSrv *http.Server) error {
	app.Server.Drain()
	log.Info("shutting down: readiness reports draining", "delay", cfg.ShutdownDelay.String(), "timeout", cfg.ShutdownTimeout.String())
	time.Sleep(cfg.ShutdownDelay)
	queueStart := time.Now()
	ln.drainQueue()
	// Shutdown would drop a request read after it began: wait for the accepted connections'
	// first requests to reach a handler.
	silent := first.wait(queueStart.Add(maxAcceptQueueDrain))
	log.Info("accept queue drained; closing the listener", "took", time.Since(queueStart).String(), "silent_connections", silent)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	start := time.Now()
	// An event stream never ends by itself, so Shutdown would wait for it until SHUTDOWN_TIMEOUT and
	// then cut it off without a word: end the streams first, each telling its client where it stopped.
	srv.RegisterOnShutdown(app.StopStreams)
	err := srv.Shutdown(ctx)
	if metricsSrv != nil { // last, so the drain itself can be watched
		_ = metricsSrv.Shutdown(ctx)
	}
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: requests still running after SHUTDOWN_TIMEOUT (%s) were cut off: %w", cfg.ShutdownTimeout, err)
	}
	log.Info("drained: every accepted request was answered", "took", time.Since(start).String())
	return nil
}

// exitCodeError asks main for a specific exit status (Docker reads 1 from a HEALTHCHECK as unhealthy).
type exitCodeError struct {
	code int
	err  error
}

func (e exitCodeError) Error() string { return e.err.Error() }
func (e exitCodeError) Unwrap() error { return e.err }

// healthcheckCmd asks the local service whether it is ready. Container images without a shell or
// curl (distroless, scratch) run it as their HEALTHCHECK.
func healthcheckCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := strings.TrimSpace(getenv("PORT"))
	if port == "" {
		port = "3001"
	}
	url := fs.String("url", "http://127.0.0.1:"+port+"/healthz", "readiness URL to ask")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: panels healthcheck [--url URL] [--timeout 3s]\n\nExits 0 when the service answers ready (200 from /healthz on PORT), 1 otherwise.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	client := &http.Client{Timeout: *timeout}
	resp, err := client.Get(*url)
	if err != nil {
		return exitCodeError{code: 1, err: fmt.Errorf("not ready: %w", err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return exitCodeError{code: 1, err: fmt.Errorf("not ready: %s answered %d: %s", *url, resp.StatusCode, strings.TrimSpace(string(body)))}
	}
	fmt.Fprintln(stdout, "ready")
	return nil
}
