package store

import (
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// Panel is a worklist with its cohort rule.
type Panel struct {
	bun.BaseModel `bun:"table:panels,alias:panel"`

	ID          int64          `bun:"id,pk,autoincrement"`
	TenantID    string         `bun:"tenant_id,notnull"`
	OwnerUserID string         `bun:"owner_user_id,notnull"`
	Name        string         `bun:"name,notnull"`
	Description *string        `bun:"description"`
	Metadata    map[string]any `bun:"metadata,type:jsonb,notnull,json_use_number"`
	CohortRule  CohortRule     `bun:"cohort_rule,type:jsonb,notnull,json_use_number"`
	CreatedAt   time.Time      `bun:"created_at,nullzero,notnull,default:current_timestamp"`
	UpdatedAt   time.Time      `bun:"updated_at,nullzero,notnull,default:current_timestamp"`

	// Level is the caller's permission, computed by access queries.
	Level Permission `bun:"level,scanonly"`
	// HasViews is whether views of the panel exist, read only by locked accesses (panelAccess with
	// lock): while the lock is held, no view can start naming its columns (checkColumnRefs).
	HasViews bool `bun:"has_views,scanonly"`
}

// CohortRule selects the panel's records.
type CohortRule struct {
	Conditions []CohortCondition `json:"conditions"`
	Logic      string            `json:"logic"`
	// Groups are terms of the rule next to its conditions; omitted when empty so that rules saved
	// before groups existed keep their stored form (and their ETags).
	Groups []CohortGroup `json:"groups,omitempty"`
}

// CohortGroup is a nested group of a cohort rule: all (Conjunction "and") or any ("or") of its
// conditions and groups hold.
type CohortGroup struct {
	Conjunction string            `json:"conjunction"`
	Conditions  []CohortCondition `json:"conditions"`
	Groups      []CohortGroup     `json:"groups,omitempty"`
}

// checkCohortRule bounds a rule's groups (MaxFilterDepth levels, MaxFilters terms in all) and
// checks its operators and values: top-level conditions take the released operators only (the
// released contract answers them, so no other may appear there); a group's conditions take every
// view filter operator, their values checked as a view filter's are.
func checkCohortRule(r CohortRule) error {
	ie := &InvalidError{Message: "invalid cohort rule"}
	count := len(r.Conditions)
	for i, c := range r.Conditions {
		if !cohortOperators[c.Operator] {
			ie.Problems = append(ie.Problems, Problem{Field: fmt.Sprintf("cohortRule.conditions[%d].operator", i), Reason: topLevelOperatorProblem(c.Operator)})
		}
	}
	var walk func(gs []CohortGroup, field string, depth int)
	walk = func(gs []CohortGroup, field string, depth int) {
		for i, g := range gs {
			at := fmt.Sprintf("%s[%d]", field, i)
			count += 1 + len(g.Conditions)
			if depth >= MaxFilterDepth {
				ie.Problems = append(ie.Problems, Problem{Field: at, Reason: fmt.Sprintf("cohort groups nest at most %d levels deep", MaxFilterDepth)})
				continue
			}
			for j, c := range g.Conditions {
				cat := fmt.Sprintf("%s.conditions[%d]", at, j)
				switch {
				case cohortOperators[c.Operator]:
					// The released operators keep their released meaning (any value; eq null is "is null").
				case !groupOperators[c.Operator]:
					ie.Problems = append(ie.Problems, Problem{Field: cat + ".operator", Reason: fmt.Sprintf("unknown operator %.40q", c.Operator)})
				default:
					if reason := filterValueProblem(c.Operator, c.Value); reason != "" {
						ie.Problems = append(ie.Problems, Problem{Field: cat + ".value", Reason: reason})
					}
				}
			}
			walk(g.Groups, at+".groups", depth+1)
		}
	}
	walk(r.Groups, "cohortRule.groups", 0)
	if count > MaxFilters {
		ie.Problems = append(ie.Problems, Problem{Field: "cohortRule", Reason: fmt.Sprintf("at most %d conditions and groups in all", MaxFilters)})
	}
	if len(ie.Problems) > 0 {
		ie.Message = ie.Problems[0].Field + ": " + ie.Problems[0].Reason
		return ie
	}
	return nil
}

// cohortOperators are the operators of the released cohort rule, the only ones a top-level
// condition takes; groupOperators are those of a group's conditions (the view filters' operators).
var (
	cohortOperators = map[string]bool{"eq": true, "gt": true, "lt": true, "gte": true, "lte": true}
	groupOperators  = map[string]bool{"eq": true, "ne": true, "gt": true, "gte": true, "lt": true, "lte": true,
		"contains": true, "startsWith": true, "endsWith": true, "in": true, "notIn": true, "between": true,
		"isNull": true, "isNotNull": true, "isEmpty": true, "isNotEmpty": true, "notContains": true,
		"containsAny": true, "containsAll": true, "isWithin": true, "before": true, "after": true,
		"onOrBefore": true, "onOrAfter": true}
)

func topLevelOperatorProblem(op string) string {
	if groupOperators[op] {
		return fmt.Sprintf("operator %s is allowed in a cohort group only (top-level conditions take eq, gt, lt, gte and lte): "+
			`put the condition in cohortRule.groups, for example {"conjunction": "and", "conditions": [your condition]}`, op)
	}
	return fmt.Sprintf("unknown operator %.40q (top-level conditions take eq, gt, lt, gte and lte)", op)
}

// CohortCondition is one comparison of a cohort rule.
type CohortCondition struct {
	Field    string `json:"field"`
	Operator string `json:"operator"`
	Value    any    `json:"value"`
}

// DefaultCohortRule matches every record.
func DefaultCohortRule() CohortRule {
	return CohortRule{Conditions: []CohortCondition{}, Logic: "AND"}
}

// DataSource is where a panel's records come from.
type DataSource struct {
	bun.BaseModel `bun:"table:data_sources,alias:ds"`

	ID        int64          `bun:"id,pk,autoincrement"`
	TenantID  string         `bun:"tenant_id,notnull"`
	PanelID   int64          `bun:"panel_id,notnull"`
	Type      string         `bun:"type,notnull"`
	Config    map[string]any `bun:"config,type:jsonb,notnull,json_use_number"`
	LastSync  *time.Time     `bun:"last_sync"`
	CreatedAt time.Time      `bun:"created_at,nullzero,notnull,default:current_timestamp"`
	UpdatedAt time.Time      `bun:"updated_at,nullzero,notnull,default:current_timestamp"`
}

// Column kinds.
const (
	ColumnBase       = "base"
	ColumnCalculated = "calculated"
)

// Column is a base column (a source field) or a calculated column (a formula).
type Column struct {
	bun.BaseModel `bun:"table:columns,alias:col"`

	ID           int64          `bun:"id,pk,autoincrement"`
	TenantID     string         `bun:"tenant_id,notnull"`
	PanelID      int64          `bun:"panel_id,notnull"`
	ColumnType   string         `bun:"column_type,notnull"`
	Name         string         `bun:"name,notnull"`
	Type         string         `bun:"type,notnull"`
	SourceField  *string        `bun:"source_field"`
	DataSourceID *int64         `bun:"data_source_id"`
	Formula      *string        `bun:"formula"` // stored form: references as {id}
	Dependencies []int64        `bun:"dependencies,array,notnull"`
	Properties   map[string]any `bun:"properties,type:jsonb,notnull,json_use_number"`
	Metadata     map[string]any `bun:"metadata,type:jsonb,notnull,json_use_number"`
	Tags         []string       `bun:"tags,type:jsonb,notnull"`
	CreatedAt    time.Time      `bun:"created_at,nullzero,notnull,default:current_timestamp"`
	UpdatedAt    time.Time      `bun:"updated_at,nullzero,notnull,default:current_timestamp"`
}

// View is a saved view of a panel.
type View struct {
	bun.BaseModel `bun:"table:views,alias:view"`

	ID             int64          `bun:"id,pk,autoincrement"`
	TenantID       string         `bun:"tenant_id,notnull"`
	PanelID        int64          `bun:"panel_id,notnull"`
	OwnerUserID    string         `bun:"owner_user_id,notnull"`
	Name           string         `bun:"name,notnull"`
	IsPublished    bool           `bun:"is_published,notnull"`
	PublishedAt    *time.Time     `bun:"published_at"`
	PublishedBy    *string        `bun:"published_by"`
	VisibleColumns []string       `bun:"visible_columns,type:jsonb,notnull"`
	Metadata       map[string]any `bun:"metadata,type:jsonb,notnull,json_use_number"`
	CreatedAt      time.Time      `bun:"created_at,nullzero,notnull,default:current_timestamp"`
	UpdatedAt      time.Time      `bun:"updated_at,nullzero,notnull,default:current_timestamp"`

	// Level is the caller's permission, computed by access queries.
	Level Permission `bun:"level,scanonly"`
	// PanelLevel is the caller's own permission on the view's panel (its ACL rows there), read by
	// viewAccess: the columns a view may name are decided by it.
	PanelLevel Permission   `bun:"panel_level,scanonly"`
	Sorts      []ViewSort   `bun:"-"`
	Filters    []ViewFilter `bun:"-"`
}

// ACL grants a principal (lower-cased email, sub, or "_all") a permission on a panel or view.
type ACL struct {
	bun.BaseModel `bun:"table:acls,alias:acl"`

	ID           int64  `bun:"id,pk,autoincrement"`
	TenantID     string `bun:"tenant_id,notnull"`
	ResourceType string `bun:"resource_type,notnull"`
	ResourceID   int64  `bun:"resource_id,notnull"`
	PanelID      *int64 `bun:"panel_id"`
	ViewID       *int64 `bun:"view_id"`
	UserEmail    string `bun:"user_email,notnull"`
	Permission   string `bun:"permission,notnull"`
	// Creator marks the owner row written with its panel or view: it names the resource's creator.
	Creator   bool      `bun:"creator,notnull"`
	CreatedAt time.Time `bun:"created_at,nullzero,notnull,default:current_timestamp"`
	UpdatedAt time.Time `bun:"updated_at,nullzero,notnull,default:current_timestamp"`
}

// Change is one row of a panel's change history.
type Change struct {
	bun.BaseModel `bun:"table:panel_changes,alias:ch"`

	ID             int64          `bun:"id,pk,autoincrement"`
	TenantID       string         `bun:"tenant_id,notnull"`
	PanelID        int64          `bun:"panel_id,notnull"`
	PanelName      string         `bun:"panel_name,notnull"`
	ChangeType     string         `bun:"change_type,notnull"`
	EntityType     string         `bun:"entity_type,notnull"`
	EntityID       int64          `bun:"entity_id,notnull"`
	Action         string         `bun:"action,notnull"`
	Description    string         `bun:"description,notnull"`
	ChangedBy      string         `bun:"changed_by,notnull"`
	ChangedByEmail *string        `bun:"changed_by_email"`
	ChangedAt      time.Time      `bun:"changed_at,nullzero,notnull,default:current_timestamp"`
	OldValues      map[string]any `bun:"old_values,type:jsonb,nullzero,json_use_number"`
	NewValues      map[string]any `bun:"new_values,type:jsonb,nullzero,json_use_number"`
	AffectedColumn *string        `bun:"affected_column"`
	// XID is the writing transaction, as ChangesAfter reads it for the row's stream position.
	XID string `bun:"xid,scanonly"`
}

// ViewSort is one sort key of a view.
type ViewSort struct {
	bun.BaseModel `bun:"table:view_sorts,alias:vs"`

	ID         int64  `bun:"id,pk,autoincrement"`
	ViewID     int64  `bun:"view_id,notnull"`
	ColumnName string `bun:"column_name,notnull"`
	Direction  string `bun:"direction,notnull"`
	Order      int    `bun:"sort_order,notnull"`
}

// ViewFilter is one filter of a view.
type ViewFilter struct {
	bun.BaseModel `bun:"table:view_filters,alias:vf"`

	ID              int64  `bun:"id,pk,autoincrement"`
	ViewID          int64  `bun:"view_id,notnull"`
	ColumnName      string `bun:"column_name,notnull"`
	Operator        string `bun:"operator,notnull"`
	Value           any    `bun:"value,type:jsonb,nullzero,json_use_number"`
	LogicalOperator string `bun:"logical_operator,notnull"`
	Position        int    `bun:"position,notnull"`
	// A group (Operator "group") has a Conjunction and Children instead of a column and value;
	// ParentID is the group a filter belongs to (nil: the view's top-level list).
	ParentID    *int64       `bun:"parent_id"`
	Conjunction *string      `bun:"conjunction"`
	Children    []ViewFilter `bun:"-"`
}
