package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/uptrace/bun"
)

// ACL change type and entity type of the change history.
const (
	ChangeACLChanged = "acl_changed"
	EntityACL        = "acl"
)

// maxACLsPerResource bounds the ACL rows of one panel or view, so that access checks and ACL
// lists stay small.
const maxACLsPerResource = 1000

// NormalizePrincipal is how a principal is written into and looked up in ACL rows: an email
// (anything with an '@') is lower-cased; a sub and "_all" are kept as they are.
func NormalizePrincipal(p string) string {
	if strings.Contains(p, "@") {
		return strings.ToLower(p)
	}
	return p
}

// needOn refuses an actor whose permission on r is below min (the owner rule raises the table's
// editor to owner for changes that touch owner rows).
func needOn(r *Resource, min Permission, action string) error {
	return need(aclRead.Visible, min, r.Level, action, r.Type)
}

// ListACLs returns the ACL rows of a resource the actor can read, by id.
func (s *Store) ListACLs(ctx context.Context, a Actor, typ string, id int64) ([]ACL, error) {
	r, err := resourceAccess(ctx, s.db, a, "listAcls", typ, id, false)
	if err != nil {
		return nil, err
	}
	return resourceACLs(ctx, s.db, r)
}

func resourceACLs(ctx context.Context, db bun.IDB, r *Resource) ([]ACL, error) {
	rows := []ACL{}
	if err := db.NewSelect().Model(&rows).
		Where("acl.tenant_id = ?", r.Panel.TenantID).Where("acl.resource_type = ?", r.Type).Where("acl.resource_id = ?", r.ID).
		OrderExpr("acl.id").Scan(ctx); err != nil {
		return nil, mapErr(err)
	}
	return rows, nil
}

// findACL reads the row naming principal on r; absent is ErrNotFound.
func findACL(ctx context.Context, db bun.IDB, r *Resource, principal string) (*ACL, error) {
	row := new(ACL)
	err := db.NewSelect().Model(row).
		Where("acl.tenant_id = ?", r.Panel.TenantID).Where("acl.resource_type = ?", r.Type).
		Where("acl.resource_id = ?", r.ID).Where("acl.user_email = ?", principal).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("acl %s: %w", principal, mapErrOf(KindACL, err))
	}
	return row, nil
}

func countACLs(ctx context.Context, db bun.IDB, r *Resource, permission string) (int, error) {
	q := db.NewSelect().Model((*ACL)(nil)).
		Where("acl.tenant_id = ?", r.Panel.TenantID).Where("acl.resource_type = ?", r.Type).Where("acl.resource_id = ?", r.ID)
	if permission != "" {
		q = q.Where("acl.permission = ?", permission)
	}
	n, err := q.Count(ctx)
	return int(n), mapErr(err)
}

// resourceName names r in change descriptions.
func resourceName(r *Resource) string {
	if r.View != nil {
		return fmt.Sprintf("view %q", r.View.Name)
	}
	return fmt.Sprintf("panel %q", r.Panel.Name)
}

func aclValues(row *ACL) map[string]any {
	return map[string]any{"userEmail": row.UserEmail, "permission": row.Permission,
		"resourceType": row.ResourceType, "resourceId": row.ResourceID}
}

// insertACL checks the per-resource cap and writes a new row with its acl_changed change.
func insertACL(ctx context.Context, tx bun.Tx, a Actor, r *Resource, principal, permission string) (*ACL, error) {
	n, err := countACLs(ctx, tx, r, "")
	if err != nil {
		return nil, err
	}
	if n >= maxACLsPerResource {
		return nil, invalid("userEmail", fmt.Sprintf("a %s has at most %d ACL rows", r.Type, maxACLsPerResource))
	}
	row := &ACL{TenantID: r.Panel.TenantID, ResourceType: r.Type, ResourceID: r.ID, UserEmail: principal, Permission: permission}
	if r.Type == "view" {
		row.ViewID = &row.ResourceID
	} else {
		row.PanelID = &row.ResourceID
	}
	if _, err := tx.NewInsert().Model(row).Returning("*").Exec(ctx); err != nil {
		return nil, err
	}
	return row, record(ctx, tx, a, r.Panel, Change{ChangeType: ChangeACLChanged, EntityType: EntityACL, EntityID: row.ID,
		Action: ActionCreate, Description: fmt.Sprintf("Granted %s on %s to %s", permission, resourceName(r), principal),
		NewValues: aclValues(row)})
}

// changeACL sets an existing row's permission (the caller checked the permission rules), refusing
// to demote the resource's last owner, and records the change. Unchanged rows are left alone.
func changeACL(ctx context.Context, tx bun.Tx, a Actor, r *Resource, row *ACL, permission string) error {
	if row.Permission == permission {
		return nil
	}
	if row.Permission == "owner" {
		if err := refuseLastOwner(ctx, tx, r, "demoted"); err != nil {
			return err
		}
	}
	before := aclValues(row)
	row.Permission = permission
	if _, err := tx.NewUpdate().Model(row).Column("permission").Set("updated_at = now()").WherePK().Where("acl.tenant_id = ?", row.TenantID).
		Returning("updated_at").Exec(ctx); err != nil {
		return err
	}
	return record(ctx, tx, a, r.Panel, Change{ChangeType: ChangeACLChanged, EntityType: EntityACL, EntityID: row.ID,
		Action: ActionUpdate, Description: fmt.Sprintf("Changed %s on %s from %s to %s", row.UserEmail, resourceName(r), before["permission"], permission),
		OldValues: before, NewValues: aclValues(row)})
}

// refuseLastOwner is a 409 when the resource has exactly one owner row (the one being removed).
func refuseLastOwner(ctx context.Context, tx bun.Tx, r *Resource, verb string) error {
	owners, err := countACLs(ctx, tx, r, "owner")
	if err != nil {
		return err
	}
	if owners <= 1 {
		return &ConflictError{Message: fmt.Sprintf("the last owner of the %s cannot be %s; grant owner to someone else first", r.Type, verb)}
	}
	return nil
}

// ownerRule is the permission a change touching permissions from and to needs: owner when either
// is owner, editor otherwise.
func ownerRule(from, to string) Permission {
	if from == "owner" || to == "owner" {
		return PermOwner
	}
	return PermEditor
}

// CreateACL grants permission on a resource to principal (an email, a sub or "_all"). Granting
// viewer or editor needs editor, granting owner needs owner; a row for the principal already
// there is a conflict; a resource has at most maxACLsPerResource rows.
func (s *Store) CreateACL(ctx context.Context, a Actor, typ string, id int64, principal, permission string) (*ACL, error) {
	principal = NormalizePrincipal(principal)
	var out *ACL
	err := s.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		r, err := resourceAccess(ctx, tx, a, "createAcl", typ, id, true)
		if err != nil {
			return err
		}
		if err := needOn(r, ownerRule("", permission), "granting "+permission); err != nil {
			return err
		}
		if _, err := findACL(ctx, tx, r, principal); err == nil {
			return &ConflictError{Message: fmt.Sprintf("an ACL row for %s already exists on this %s; change it instead", principal, r.Type)}
		} else if !isNotFound(err) {
			return err
		}
		out, err = insertACL(ctx, tx, a, r, principal, permission)
		return err
	})
	return out, err
}

// UpdateACL changes the permission of principal's row. Changing to or from owner needs owner,
// otherwise editor; the last owner cannot be demoted.
func (s *Store) UpdateACL(ctx context.Context, a Actor, typ string, id int64, principal, permission string) (*ACL, error) {
	principal = NormalizePrincipal(principal)
	var out *ACL
	err := s.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		r, err := resourceAccess(ctx, tx, a, "updateAcl", typ, id, true)
		if err != nil {
			return err
		}
		row, err := findACL(ctx, tx, r, principal)
		if err != nil {
			return err
		}
		if err := needOn(r, ownerRule(row.Permission, permission), fmt.Sprintf("changing %s to %s", row.Permission, permission)); err != nil {
			return err
		}
		out = row
		return changeACL(ctx, tx, a, r, row, permission)
	})
	return out, err
}

// DeleteACL revokes principal's row. Revoking viewer or editor needs editor, owner needs owner;
// the last owner row can never be removed.
func (s *Store) DeleteACL(ctx context.Context, a Actor, typ string, id int64, principal string) error {
	principal = NormalizePrincipal(principal)
	return s.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		r, err := resourceAccess(ctx, tx, a, "deleteAcl", typ, id, true)
		if err != nil {
			return err
		}
		row, err := findACL(ctx, tx, r, principal)
		if err != nil {
			return err
		}
		if err := needOn(r, ownerRule(row.Permission, ""), "revoking "+row.Permission); err != nil {
			return err
		}
		if row.Permission == "owner" {
			if err := refuseLastOwner(ctx, tx, r, "removed"); err != nil {
				return err
			}
		}
		if _, err := tx.NewDelete().Model(row).WherePK().Where("acl.tenant_id = ?", row.TenantID).Exec(ctx); err != nil {
			return err
		}
		return record(ctx, tx, a, r.Panel, Change{ChangeType: ChangeACLChanged, EntityType: EntityACL, EntityID: row.ID,
			Action: ActionDelete, Description: fmt.Sprintf("Revoked %s on %s from %s", row.Permission, resourceName(r), row.UserEmail),
			OldValues: aclValues(row)})
	})
}

// SharePublic creates or updates the resource's "_all" row and reports whether it was created.
// It follows the rules of CreateACL and UpdateACL.
func (s *Store) SharePublic(ctx context.Context, a Actor, typ string, id int64, permission string) (*ACL, bool, error) {
	var out *ACL
	var created bool
	err := s.InTx(ctx, func(ctx context.Context, tx bun.Tx) error {
		r, err := resourceAccess(ctx, tx, a, "shareAclPublic", typ, id, true)
		if err != nil {
			return err
		}
		if err := needOn(r, ownerRule("", permission), "sharing as "+permission); err != nil {
			return err
		}
		row, err := findACL(ctx, tx, r, allPrincipal)
		if isNotFound(err) {
			created = true
			out, err = insertACL(ctx, tx, a, r, allPrincipal, permission)
			return err
		}
		if err != nil {
			return err
		}
		if err := needOn(r, ownerRule(row.Permission, permission), fmt.Sprintf("changing %s to %s", row.Permission, permission)); err != nil {
			return err
		}
		out = row
		return changeACL(ctx, tx, a, r, row, permission)
	})
	return out, created, err
}

// ListUserACLs returns the rows naming principal and the tenant's "_all" rows, by id, optionally of
// one resource type. When principal is the actor's own email or sub, rows naming either are
// included. Only admins may ask about someone else.
func (s *Store) ListUserACLs(ctx context.Context, a Actor, principal string, typ *string) ([]ACL, error) {
	principal = NormalizePrincipal(principal)
	names := []string{principal, allPrincipal}
	switch {
	case principal == a.UserID || (a.Email != "" && principal == strings.ToLower(a.Email)):
		names = a.principals()
	case !a.Admin:
		return nil, Forbidden("listing another person's ACL rows needs the admin role")
	}
	rows := []ACL{}
	q := s.db.NewSelect().Model(&rows).Where("acl.tenant_id = ?", a.TenantID).Where("acl.user_email IN (?)", bun.List(names))
	if typ != nil {
		q = q.Where("acl.resource_type = ?", *typ)
	}
	if err := q.OrderExpr("acl.id").Scan(ctx); err != nil {
		return nil, mapErr(err)
	}
	return rows, nil
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
