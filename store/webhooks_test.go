package store

import (
	"context"
	"errors"
	"testing"
)

func noCheck() error { return nil }

func queued(t *testing.T, w *Webhook) []Delivery {
	t.Helper()
	var ds []Delivery
	if err := testStore.db.NewSelect().Model(&ds).Where("d.tenant_id = ?", w.TenantID).Where("d.webhook_id = ?", w.ID).
		OrderExpr("d.id").Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	return ds
}

func renamePanel(t *testing.T, a Actor, id int64, name string) {
	t.Helper()
	if _, err := testStore.UpdatePanel(context.Background(), a, id, func(*Panel) error { return nil }, PanelPatch{Name: &name}); err != nil {
		t.Fatal(err)
	}
}

// TestWebhookCarriesOnlyWhatItsCreatorReads: a non-admin's webhook queues the changes of its panel
// while an ACL row names the creator there, and none once the row is gone; a tenant-wide
// webhook never queues another tenant's changes, and the events filter is applied.
func TestWebhookCarriesOnlyWhatItsCreatorReads(t *testing.T) {
	ctx := context.Background()
	tenant := "whperm-" + t.Name()
	admin := Actor{TenantID: tenant, UserID: "admin", Email: "admin@x.example", Admin: true}
	ed := Actor{TenantID: tenant, UserID: "ed", Email: "Ed@x.example"}
	p := &Panel{Name: "P"}
	if err := testStore.CreatePanel(ctx, admin, p); err != nil {
		t.Fatal(err)
	}
	if _, err := testStore.CreateACL(ctx, admin, "panel", p.ID, "ed@x.example", "editor"); err != nil {
		t.Fatal(err)
	}
	hook, err := testStore.CreateWebhook(ctx, ed, &p.ID, WebhookInput{URL: "https://hooks.example/p", Events: []string{AllEvents}}, noCheck)
	if err != nil {
		t.Fatal(err)
	}
	narrow, err := testStore.CreateWebhook(ctx, ed, &p.ID, WebhookInput{URL: "https://hooks.example/c", Events: []string{ChangeColumnAdded}}, noCheck)
	if err != nil {
		t.Fatal(err)
	}
	wide, err := testStore.CreateWebhook(ctx, admin, nil, WebhookInput{URL: "https://hooks.example/all", Events: []string{AllEvents}}, noCheck)
	if err != nil {
		t.Fatal(err)
	}
	renamePanel(t, admin, p.ID, "P2")
	if n := len(queued(t, hook)); n != 1 {
		t.Fatalf("the editor's webhook queued %d deliveries, want 1", n)
	}
	if n := len(queued(t, narrow)); n != 0 {
		t.Errorf("a column_added webhook queued a panel_updated: %d", n)
	}
	// The ACL change is itself a change of the panel, made while the row still existed or not:
	// count from after it.
	if err := testStore.DeleteACL(ctx, admin, "panel", p.ID, "ed@x.example"); err != nil {
		t.Fatal(err)
	}
	before := len(queued(t, hook))
	renamePanel(t, admin, p.ID, "P3")
	if n := len(queued(t, hook)); n != before {
		t.Errorf("a webhook whose creator lost the panel queued its change (%d → %d)", before, n)
	}
	other := Actor{TenantID: tenant + "-other", UserID: "admin", Email: "admin@x.example", Admin: true}
	q := &Panel{Name: "Q"}
	if err := testStore.CreatePanel(ctx, other, q); err != nil {
		t.Fatal(err)
	}
	renamePanel(t, other, q.ID, "Q2")
	for _, d := range queued(t, wide) {
		var c Change
		if err := testStore.db.NewSelect().Model(&c).Where("ch.tenant_id = ?", tenant).Where("ch.id = ?", d.ChangeID).Scan(ctx); err != nil {
			t.Errorf("delivery %d carries change %d, which is not of the webhook's tenant: %v", d.ID, d.ChangeID, err)
		}
	}
	// panel_created, the rename to P2, the ACL removal, the rename to P3: every change of the tenant.
	if n := len(queued(t, wide)); n < 3 {
		t.Errorf("the admin's tenant-wide webhook queued %d deliveries, want every change of its tenant", n)
	}
}

// TestWebhookOperationsNeedTheirLevel: a viewer may not create a panel's webhook, a non-admin
// may not create a tenant-wide one nor see it, and another tenant sees nothing.
func TestWebhookOperationsNeedTheirLevel(t *testing.T) {
	ctx := context.Background()
	tenant := "whlevel-" + t.Name()
	admin := Actor{TenantID: tenant, UserID: "admin", Admin: true}
	viewer := Actor{TenantID: tenant, UserID: "vi"}
	p := &Panel{Name: "P"}
	if err := testStore.CreatePanel(ctx, admin, p); err != nil {
		t.Fatal(err)
	}
	if _, err := testStore.CreateACL(ctx, admin, "panel", p.ID, "vi", "viewer"); err != nil {
		t.Fatal(err)
	}
	in := WebhookInput{URL: "https://hooks.example/", Events: []string{AllEvents}}
	if _, err := testStore.CreateWebhook(ctx, viewer, &p.ID, in, noCheck); !errors.Is(err, ErrForbidden) {
		t.Errorf("a viewer created a panel's webhook: %v", err)
	}
	if _, err := testStore.CreateWebhook(ctx, viewer, nil, in, noCheck); !errors.Is(err, ErrForbidden) {
		t.Errorf("a non-admin created a tenant-wide webhook: %v", err)
	}
	wide, err := testStore.CreateWebhook(ctx, admin, nil, in, noCheck)
	if err != nil {
		t.Fatal(err)
	}
	onP, err := testStore.CreateWebhook(ctx, admin, &p.ID, in, noCheck)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testStore.GetWebhook(ctx, viewer, wide.ID); !errors.Is(err, ErrForbidden) {
		t.Errorf("a non-admin read a tenant-wide webhook: %v", err)
	}
	if _, err := testStore.GetWebhook(ctx, viewer, onP.ID); !errors.Is(err, ErrForbidden) {
		t.Errorf("a viewer read a panel's webhook: %v", err)
	}
	stranger := Actor{TenantID: tenant + "-x", UserID: "admin", Admin: true}
	if _, err := testStore.GetWebhook(ctx, stranger, onP.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("another tenant's admin read the webhook: %v", err)
	}
	if err := testStore.DeleteWebhook(ctx, stranger, onP.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("another tenant's admin deleted the webhook: %v", err)
	}
	page, err := testStore.ListWebhooks(ctx, viewer, nil, 100, 0, 0)
	if err != nil || len(page.Webhooks) != 0 {
		t.Errorf("a viewer's webhook list: %d webhooks, %v; want none", len(page.Webhooks), err)
	}
	page, err = testStore.ListWebhooks(ctx, stranger, nil, 100, 0, 0)
	if err != nil || len(page.Webhooks) != 0 {
		t.Errorf("another tenant's list: %d webhooks, %v; want none", len(page.Webhooks), err)
	}
	page, err = testStore.ListWebhooks(ctx, admin, nil, 100, 0, 0)
	if err != nil || page.Total != 2 {
		t.Errorf("the admin's list: total %d, %v; want 2", page.Total, err)
	}
}

// TestFailedMutationQueuesNothing: a mutation whose change row fails rolls its deliveries back
// with it (the change trigger of the test database makes every change of the tenant fail).
func TestFailedMutationQueuesNothing(t *testing.T) {
	ctx := context.Background()
	tenant := failChangeTenantPrefix + "wh"
	admin := Actor{TenantID: tenant, UserID: "admin", Admin: true}
	wide, err := testStore.CreateWebhook(ctx, admin, nil, WebhookInput{URL: "https://hooks.example/", Events: []string{AllEvents}}, noCheck)
	if err != nil {
		t.Fatal(err)
	}
	if err := testStore.CreatePanel(ctx, admin, &Panel{Name: "P"}); err == nil {
		t.Fatal("the change trigger did not fail the mutation")
	}
	if n := len(queued(t, wide)); n != 0 {
		t.Errorf("a rolled-back mutation left %d deliveries", n)
	}
}
