package store

import (
	"context"
	"time"
)

// Member is a principal of a tenant, recorded the first time the service sees it.
type Member struct {
	TenantID    string    `bun:"tenant_id"`
	UserID      string    `bun:"user_id"`
	Email       *string   `bun:"email"`
	Name        *string   `bun:"name"`
	FirstSeenAt time.Time `bun:"first_seen_at"`
}

// RecordMember records a tenant's principal (sub, and email when the token has one). Seeing it
// again only writes when its email changed; a token without an email keeps the known one.
func (s *Store) RecordMember(ctx context.Context, tenant, sub, email string) error {
	var emailArg *string
	if email != "" {
		emailArg = &email
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO members (tenant_id, user_id, email) VALUES (?, ?, ?)
		ON CONFLICT (tenant_id, user_id) DO UPDATE SET email = EXCLUDED.email
		WHERE EXCLUDED.email IS NOT NULL AND members.email IS DISTINCT FROM EXCLUDED.email`, tenant, sub, emailArg)
	return mapErr(err)
}

// ListMembers returns the tenant's known members in the order they were first seen.
func (s *Store) ListMembers(ctx context.Context, tenant string) ([]Member, error) {
	out := []Member{}
	err := s.db.NewSelect().TableExpr("members").Column("tenant_id", "user_id", "email", "name", "first_seen_at").
		Where("tenant_id = ?", tenant).OrderExpr("first_seen_at, user_id").Scan(ctx, &out)
	return out, mapErr(err)
}
