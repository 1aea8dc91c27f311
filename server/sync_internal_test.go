package server

import (
	"errors"
	"net/http"
	"testing"

	"github.com/panels/panels/server/problem"
	"github.com/panels/panels/store"
)

// Syncs hold a pooled connection while their source answers: past the slots, a sync is refused
// with 503 rather than starving the pool, and only once the source is accepted.
func TestSyncSlots(t *testing.T) {
	f := &dataFlow{slots: make(chan struct{}, 1)}
	allow := func(*store.DataSource) error { return nil }
	deny := func(*store.DataSource) error { return store.ErrInvalid }
	check1, release1 := f.slotted(allow)
	if err := check1(nil); err != nil {
		t.Fatal(err)
	}
	check2, release2 := f.slotted(allow)
	if err := check2(nil); problem.From(err).Status != http.StatusServiceUnavailable {
		t.Errorf("second sync: %v", err)
	}
	release2() // nothing taken: nothing given back
	check3, release3 := f.slotted(deny)
	if err := check3(nil); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("a refused source: %v", err)
	}
	release3()
	release1()
	check4, release4 := f.slotted(allow)
	if err := check4(nil); err != nil {
		t.Errorf("after a release: %v", err)
	}
	release4()
}
