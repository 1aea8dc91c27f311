// Package pipeline is what every request goes through before its handler, in the order of
// docs/permissions.md#order-of-checks: the request id, the log line and metrics, panic recovery,
// the security headers, the body limits and the API gate (authentication, the hooks that need the
// caller, validation against the spec, identity assertions). It also holds the state those layers
// leave for each other and for the handlers, and the central error handler that answers and
// records every failure.
package pipeline

import (
	"context"

	"github.com/panels/panels/server/auth"
	"github.com/panels/panels/server/problem"
)

type stateKey struct{}

// state is everything the layers of one request leave for each other, in one context value set
// once by AssignRequestID: the layers then fill it in instead of copying the request for every
// value (each http.Request.WithContext copies the request).
type state struct {
	id        string
	principal auth.Principal // set by the gate once the caller is authenticated
	// What the request's log line needs from the layers below: the error handler leaves the
	// error here instead of logging it, so that each request is logged once.
	err     error
	problem *problem.Problem
}

func withState(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, stateKey{}, &state{id: id})
}

func stateOf(ctx context.Context) *state {
	st, _ := ctx.Value(stateKey{}).(*state)
	return st
}

// RequestID is the id of the request a context belongs to ("" outside a request), as the
// X-Request-Id header carries it.
func RequestID(ctx context.Context) string {
	if st := stateOf(ctx); st != nil {
		return st.id
	}
	return ""
}

// Principal is the verified caller; handlers of operations that need authentication always have
// one, other contexts get the zero Principal.
func Principal(ctx context.Context) auth.Principal {
	if st := stateOf(ctx); st != nil {
		return st.principal
	}
	return auth.Principal{}
}
