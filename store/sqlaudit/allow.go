package sqlaudit

// allowed lets through a reference to a tenant table that has no tenant_id predicate of its own,
// keyed by "function table" as the audit reports it (function: package.(*Type).Method or
// package.function, closures folded into their function). Every entry says why.
//
// The rule (README "Tenant scoping"): a tenant table is scoped by `alias.tenant_id = <value>`,
// `IN (...)` or `= ANY(...)`, or by `alias.tenant_id = other.tenant_id` where other is scoped in
// the same query level or an enclosing one; an INSERT lists tenant_id. A join to a scoped parent
// on its id alone (`c.panel_id = p.id`) does NOT scope the child: add the tenant_id predicate, it
// costs nothing (every index leads with tenant_id). Entries here are for statements that are
// tenant-wide by design, or temporary.
var allowed = map[string]string{
	// Tenant-wide by design: the expiry sweep of the background purger deletes every tenant's
	// expired keys; it runs outside any request and has no tenant.
	"store.(*Store).PurgeIdempotencyKeys idempotency_keys": "expiry sweep across tenants",
	// Tenant-wide by design: each instance's event-stream tail reads the outbox of every tenant in
	// one order and hands each event only to subscribers of its tenant (server/events.Hub.dispatch,
	// which compares the event's tenant_id with the subscriber's).
	"store.(*Store).TailEvents panel_changes":               "event-stream tail across tenants",
	"store.(*Store).TailEvents view_notifications":          "event-stream tail across tenants",
	"store.(*Store).TailEvents views":                       "event-stream tail across tenants (joined on vn.tenant_id)",
	"store.(*Store).LatestEventPosition panel_changes":      "where the event-stream tail starts",
	"store.(*Store).LatestEventPosition view_notifications": "where the event-stream tail starts",
	// Tenant-wide by design: every instance's webhook worker serves one queue of every tenant;
	// each claimed row then carries its tenant, which FinishDelivery scopes by.
	"store.(*Store).ClaimDeliveries webhook_deliveries": "the webhook queue of every tenant",
	"store.(*Store).ClaimDeliveries webhooks":           "the webhooks of the claimed deliveries, any tenant",
	"store.(*Store).ClaimDeliveries panel_changes":      "the changes the claimed deliveries carry, any tenant",
}
