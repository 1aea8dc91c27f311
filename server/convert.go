package server

import (
	"github.com/oapi-codegen/nullable"

	"github.com/panels/panels/clients/go/apitime"
	"github.com/panels/panels/gen"
	"github.com/panels/panels/store"
	"github.com/panels/panels/store/dsconfig"
	"github.com/panels/panels/store/formula"
)

func panelToAPI(p *store.Panel) gen.Panel {
	out := gen.Panel{
		Id:         p.ID,
		Name:       p.Name,
		TenantId:   p.TenantID,
		UserId:     p.OwnerUserID,
		CohortRule: cohortToAPI(p.CohortRule),
		Metadata:   gen.Metadata(nonNilMap(p.Metadata)),
		CreatedAt:  apiTime(p.CreatedAt),
		UpdatedAt:  apiTime(p.UpdatedAt),
	}
	out.Description = nullableOf(p.Description)
	if p.Level == store.PermViewReader {
		// A view reader sees the panel's name and description, not how it selects its records.
		viewOnly := true
		out.ViewOnly = &viewOnly
		out.CohortRule = cohortToAPI(store.DefaultCohortRule())
		out.Metadata = gen.Metadata{}
	}
	return out
}

func cohortToAPI(r store.CohortRule) gen.CohortRule {
	out := gen.CohortRule{Logic: gen.CohortLogic(r.Logic), Conditions: make([]gen.CohortCondition, len(r.Conditions))}
	if out.Logic == "" {
		out.Logic = gen.AND
	}
	for i, c := range r.Conditions {
		out.Conditions[i] = gen.CohortCondition{Field: c.Field, Operator: gen.CohortOperator(c.Operator), Value: cohortValueToAPI(c.Value)}
	}
	out.Groups = cohortGroupsToAPI(r.Groups)
	return out
}

// cohortValueToAPI is a condition's value as answered: null when it has none.
func cohortValueToAPI(v any) nullable.Nullable[any] {
	if v == nil {
		return nullable.NewNullNullable[any]()
	}
	return nullable.NewNullableWithValue[any](v)
}

func cohortValueFromAPI(v nullable.Nullable[any]) any {
	if v.IsSpecified() && !v.IsNull() {
		return v.MustGet()
	}
	return nil
}

func cohortGroupsToAPI(gs []store.CohortGroup) []gen.CohortGroup {
	var out []gen.CohortGroup
	for _, g := range gs {
		conds := make([]gen.CohortGroupCondition, len(g.Conditions))
		for i, c := range g.Conditions {
			conds[i] = gen.CohortGroupCondition{Field: c.Field, Operator: gen.CohortGroupOperator(c.Operator), Value: cohortValueToAPI(c.Value)}
		}
		out = append(out, gen.CohortGroup{Conjunction: gen.LogicalOperator(g.Conjunction), Conditions: conds, Groups: cohortGroupsToAPI(g.Groups)})
	}
	return out
}

func cohortGroupsFromAPI(gs []gen.CohortGroup) []store.CohortGroup {
	var out []store.CohortGroup
	for _, g := range gs {
		conds := make([]store.CohortCondition, len(g.Conditions))
		for i, c := range g.Conditions {
			conds[i] = store.CohortCondition{Field: c.Field, Operator: string(c.Operator), Value: cohortValueFromAPI(c.Value)}
		}
		out = append(out, store.CohortGroup{Conjunction: string(g.Conjunction), Conditions: conds, Groups: cohortGroupsFromAPI(g.Groups)})
	}
	return out
}

func cohortFromAPI(r gen.CohortRule) store.CohortRule {
	out := store.CohortRule{Logic: string(r.Logic), Conditions: make([]store.CohortCondition, len(r.Conditions))}
	for i, c := range r.Conditions {
		out.Conditions[i] = store.CohortCondition{Field: c.Field, Operator: string(c.Operator), Value: cohortValueFromAPI(c.Value)}
	}
	out.Groups = cohortGroupsFromAPI(r.Groups)
	return out
}

func dataSourceToAPI(ds *store.DataSource) gen.DataSource {
	out := gen.DataSource{
		Id:        ds.ID,
		PanelId:   ds.PanelID,
		Type:      gen.DataSourceType(ds.Type),
		Config:    gen.DataSourceConfig(dsconfig.Masked(ds.Config)),
		CreatedAt: apiTime(ds.CreatedAt),
		UpdatedAt: apiTime(ds.UpdatedAt),
	}
	out.LastSync = nullable.NewNullNullable[apitime.Time]()
	if ds.LastSync != nil {
		out.LastSync = nullable.NewNullableWithValue(apiTime(*ds.LastSync))
	}
	return out
}

// columnToAPI renders a column; names (of all the panel's columns) render formula references.
func columnToAPI(c *store.Column, names map[int64]string) gen.Column {
	out := gen.Column{
		Id:         c.ID,
		PanelId:    c.PanelID,
		ColumnType: gen.ColumnColumnType(c.ColumnType),
		Name:       c.Name,
		Type:       gen.ColumnType(c.Type),
		Properties: nonNilMap(c.Properties),
		Metadata:   gen.Metadata(nonNilMap(c.Metadata)),
		Tags:       c.Tags,
		CreatedAt:  apiTime(c.CreatedAt),
		UpdatedAt:  apiTime(c.UpdatedAt),
	}
	if out.Tags == nil {
		out.Tags = []string{}
	}
	if c.ColumnType == store.ColumnBase {
		sf := ""
		if c.SourceField != nil {
			sf = *c.SourceField
		}
		out.SourceField = &sf
		out.DataSourceId = nullable.NewNullNullable[int64]()
		if c.DataSourceID != nil {
			out.DataSourceId = nullable.NewNullableWithValue(*c.DataSourceID)
		}
		return out
	}
	f := ""
	if c.Formula != nil {
		rendered, err := formula.Render(*c.Formula, names)
		if err != nil {
			rendered = *c.Formula
		}
		f = rendered
	}
	out.Formula = &f
	out.Dependencies = make([]string, 0, len(c.Dependencies))
	for _, id := range c.Dependencies {
		out.Dependencies = append(out.Dependencies, names[id])
	}
	return out
}

func changeToAPI(c *store.Change) gen.PanelChange {
	out := gen.PanelChange{
		Id:          c.ID,
		PanelId:     c.PanelID,
		PanelName:   c.PanelName,
		ChangeType:  gen.ChangeType(c.ChangeType),
		EntityType:  gen.EntityType(c.EntityType),
		EntityId:    c.EntityID,
		Action:      gen.ChangeAction(c.Action),
		Description: c.Description,
		ChangedBy:   c.ChangedBy,
		ChangedAt:   apiTime(c.ChangedAt),
	}
	out.ChangedByEmail = nullableOf(c.ChangedByEmail)
	out.AffectedColumn = nullableOf(c.AffectedColumn)
	out.OldValues = nullableMap(c.OldValues)
	out.NewValues = nullableMap(c.NewValues)
	return out
}

func nullableOf[T any](p *T) nullable.Nullable[T] {
	if p == nil {
		return nullable.NewNullNullable[T]()
	}
	return nullable.NewNullableWithValue(*p)
}

func nullableMap(m map[string]any) nullable.Nullable[map[string]any] {
	if m == nil {
		return nullable.NewNullNullable[map[string]any]()
	}
	return nullable.NewNullableWithValue(m)
}

func nonNilMap(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}
