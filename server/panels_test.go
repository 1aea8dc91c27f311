package server_test

import (
	"net/http"
	"testing"

	client "github.com/panels/panels/clients/go"
	"github.com/panels/panels/server/auth"
)

func ptr[T any](v T) *T { return &v }

func TestPanelLifecycle(t *testing.T) {
	c := newCaller(t, newTenant("life"), "alice", auth.RoleBuilder)
	ctx := t.Context()

	created, err := c.api.CreatePanelWithResponse(ctx, nil, client.PanelCreate{Name: "Diabetes", Metadata: &client.Metadata{"color": "blue"}})
	if err != nil || created.StatusCode() != http.StatusCreated {
		t.Fatalf("create: %v %d %s", err, created.StatusCode(), created.Body)
	}
	p := created.JSON201
	if p.UserId != "alice" || p.TenantId != c.tenant || p.CohortRule.Logic != client.AND || len(p.CohortRule.Conditions) != 0 {
		t.Fatalf("unexpected panel %+v", p)
	}
	if loc := created.HTTPResponse.Header.Get("Location"); loc == "" {
		t.Error("201 without Location")
	}

	got, err := c.api.GetPanelWithResponse(ctx, p.Id, nil)
	if err != nil || got.StatusCode() != http.StatusOK || got.JSON200.Name != "Diabetes" {
		t.Fatalf("get: %v %d", err, got.StatusCode())
	}
	etag := got.HTTPResponse.Header.Get("ETag")
	nm, _ := c.api.GetPanelWithResponse(ctx, p.Id, &client.GetPanelParams{IfNoneMatch: &etag})
	if nm.StatusCode() != http.StatusNotModified {
		t.Errorf("If-None-Match: got %d, want 304", nm.StatusCode())
	}

	upd, err := c.api.UpdatePanelWithResponse(ctx, p.Id, nil, client.PanelUpdate{Name: ptr("Diabetes follow-up"),
		CohortRule: &client.CohortRule{Logic: client.OR, Conditions: []client.CohortCondition{{Field: "age", Operator: client.CohortOperatorGte}}}})
	if err != nil || upd.StatusCode() != http.StatusOK || upd.JSON200.Name != "Diabetes follow-up" || upd.JSON200.CohortRule.Logic != client.OR {
		t.Fatalf("update: %v %d %s", err, upd.StatusCode(), upd.Body)
	}
	stale, _ := c.api.UpdatePanelWithResponse(ctx, p.Id, &client.UpdatePanelParams{IfMatch: &etag}, client.PanelUpdate{Name: ptr("lost")})
	if stale.StatusCode() != http.StatusPreconditionFailed {
		t.Errorf("stale If-Match: got %d, want 412", stale.StatusCode())
	}

	list, err := c.api.ListPanelsWithResponse(ctx, nil)
	if err != nil || list.StatusCode() != http.StatusOK || len(*list.JSON200) != 1 {
		t.Fatalf("list: %v %d %s", err, list.StatusCode(), list.Body)
	}

	changes, err := c.api.ListPanelChangesWithResponse(ctx, &client.ListPanelChangesParams{PanelId: &p.Id})
	if err != nil || changes.StatusCode() != http.StatusOK {
		t.Fatalf("changes: %v %d", err, changes.StatusCode())
	}
	types := map[client.ChangeType]bool{}
	for _, ch := range changes.JSON200.Changes {
		types[ch.ChangeType] = true
	}
	for _, want := range []client.ChangeType{client.PanelCreated, client.PanelUpdated, client.CohortChanged} {
		if !types[want] {
			t.Errorf("change %s not recorded: %v", want, types)
		}
	}

	del, err := c.api.DeletePanelWithResponse(ctx, p.Id, nil)
	if err != nil || del.StatusCode() != http.StatusNoContent {
		t.Fatalf("delete: %v %d %s", err, del.StatusCode(), del.Body)
	}
	gone, _ := c.api.GetPanelWithResponse(ctx, p.Id, nil)
	if gone.StatusCode() != http.StatusNotFound {
		t.Errorf("after delete: got %d, want 404", gone.StatusCode())
	}
}
