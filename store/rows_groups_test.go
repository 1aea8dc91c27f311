package store

import (
	"errors"
	"reflect"
	"slices"
	"testing"
)

func fgroup(conj string, logic string, kids ...ViewFilter) ViewFilter {
	return ViewFilter{Operator: FilterGroup, Conjunction: &conj, LogicalOperator: logic, Children: kids}
}

func fleaf(col, op string, v any) ViewFilter {
	return ViewFilter{ColumnName: col, Operator: op, Value: v, LogicalOperator: "and"}
}

// Nested filter groups on the hand-checked data set of rows_test.go; f.keys runs each case with
// pushdown and in Go only and requires both answers to agree.
func TestRowsFilterGroups(t *testing.T) {
	f := newRowsFixture(t)
	tests := []struct {
		name    string
		filters []ViewFilter
		want    []string
	}{
		{"AND with a pushed OR group", []ViewFilter{
			fleaf("Status", "eq", "active"),
			fgroup("or", "and", fleaf("Age", "gt", 80), fleaf("City", "eq", "London")),
		}, []string{"p1"}},
		{"OR group mixing SQL and Go, AND a pushed filter", []ViewFilter{
			fgroup("or", "and", fleaf("Born", "gt", "1999-01-01"), fleaf("City", "eq", "Wilmslow")),
			fleaf("Age", "gte", 41),
		}, []string{"p2", "p5"}},
		{"three levels", []ViewFilter{
			fgroup("or", "and",
				fgroup("and", "and", fleaf("Status", "eq", "pending"),
					fgroup("or", "and", fleaf("Age", "eq", 65), fleaf("Name", "contains", "ALAN"))),
				fleaf("VIP", "eq", true)),
		}, []string{"p1", "p2", "p5", "p6"}},
		{"a group joined with OR to a flat filter", []ViewFilter{
			fleaf("Status", "eq", "inactive"),
			fgroup("and", "or", fleaf("Age", "eq", 65), fleaf("City", "isNotNull", nil)),
		}, []string{"p3", "p6"}},
		{"an empty group imposes nothing", []ViewFilter{fleaf("Status", "eq", "pending"), fgroup("or", "and")}, []string{"p2", "p6"}},
		{"a group on a calculated column", []ViewFilter{
			fgroup("or", "and", fleaf("Senior", "eq", true), fleaf("Label", "contains", "alan")),
		}, []string{"p2", "p3", "p5", "p6"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.setView(t, tc.filters, nil)
			if got := f.keys(t, RowsQuery{ViewID: f.view.ID}); !slices.Equal(got, tc.want) {
				t.Errorf("rows %v, want %v", got, tc.want)
			}
		})
	}
}

// The tree is saved as given and read back as saved; groups nest at most three levels.
func TestViewFilterGroupsRoundTrip(t *testing.T) {
	f := newRowsFixture(t)
	allow := func(*View) error { return nil }
	tree := []ViewFilter{
		fleaf("Status", "in", []any{"active", "pending"}),
		fgroup("or", "or", fleaf("Age", "gt", 80), fgroup("and", "and", fleaf("City", "eq", "London"), fleaf("VIP", "eq", true))),
	}
	saved, err := testStore.ReplaceFilters(t.Context(), f.a, f.view.ID, allow, tree)
	if err != nil {
		t.Fatal(err)
	}
	v, err := testStore.GetView(t.Context(), f.a, "getViewFilters", f.view.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := filterValues(v.Filters), filterValues(saved.Filters); !reflect.DeepEqual(got, want) {
		t.Fatalf("read back %v, saved %v", got, want)
	}
	if got := filterValues(v.Filters); len(got) != 2 || got[1]["conjunction"] != "or" || got[1]["logicalOperator"] != "or" ||
		len(got[1]["filters"].([]map[string]any)) != 2 {
		t.Fatalf("tree %v", got)
	}

	deep := []ViewFilter{fgroup("and", "and", fgroup("or", "and", fgroup("and", "and", fgroup("or", "and", fleaf("Age", "gt", 1)))))}
	_, err = testStore.ReplaceFilters(t.Context(), f.a, f.view.ID, allow, deep)
	var ie *InvalidError
	if !errors.As(err, &ie) || ie.Problems[0].Field != "filters[0].filters[0].filters[0].filters[0]" {
		t.Fatalf("four levels: %v", err)
	}
	bad := []ViewFilter{fgroup("and", "and", fleaf("Nope", "eq", 1))}
	if _, err := testStore.ReplaceFilters(t.Context(), f.a, f.view.ID, allow, bad); !errors.As(err, &ie) {
		t.Fatalf("unknown column inside a group: %v", err)
	}
	badValue := []ViewFilter{fgroup("and", "and", fleaf("Age", "between", 1))}
	if _, err := testStore.ReplaceFilters(t.Context(), f.a, f.view.ID, allow, badValue); !errors.As(err, &ie) || ie.Problems[0].Field != "filters[0].filters[0].value" {
		t.Fatalf("bad value inside a group: %v", err)
	}
	// The failed replacements changed nothing.
	v, err = testStore.GetView(t.Context(), f.a, "getViewFilters", f.view.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := filterValues(v.Filters), filterValues(saved.Filters); !reflect.DeepEqual(got, want) {
		t.Fatalf("after failures %v, want %v", got, want)
	}
}

// Cohort groups: terms of the rule next to its conditions, on the same data set, both ways.
func TestRowsCohortGroups(t *testing.T) {
	f := newRowsFixture(t)
	c := func(field, op string, v any) CohortCondition {
		return CohortCondition{Field: field, Operator: op, Value: v}
	}
	tests := []struct {
		name string
		rule CohortRule
		want []string
	}{
		{"AND with an OR group of column and path", CohortRule{Logic: "AND", Conditions: []CohortCondition{c("Age", "gte", 41)},
			Groups: []CohortGroup{{Conjunction: "or", Conditions: []CohortCondition{c("status", "eq", "pending"), c("vip", "eq", true)}}}},
			[]string{"p2", "p5", "p6"}},
		{"OR of groups, one with a calculated column", CohortRule{Logic: "OR", Conditions: []CohortCondition{},
			Groups: []CohortGroup{
				{Conjunction: "and", Conditions: []CohortCondition{c("Senior", "eq", true), c("Status", "eq", "pending")}},
				{Conjunction: "and", Conditions: []CohortCondition{c("addr.city", "eq", "London")}},
			}}, []string{"p1", "p6"}},
		{"three levels", CohortRule{Logic: "AND", Conditions: []CohortCondition{},
			Groups: []CohortGroup{{Conjunction: "or", Conditions: []CohortCondition{c("Age", "lt", 40)},
				Groups: []CohortGroup{{Conjunction: "and", Conditions: []CohortCondition{c("Age", "gt", 80)},
					Groups: []CohortGroup{{Conjunction: "or", Conditions: []CohortCondition{c("vip", "eq", false)}}}}}}}},
			[]string{"p1", "p3"}},
		{"an empty group imposes nothing", CohortRule{Logic: "AND", Conditions: []CohortCondition{c("Status", "eq", "active")},
			Groups: []CohortGroup{{Conjunction: "or", Conditions: []CohortCondition{}}}}, []string{"p1", "p4"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rule := tc.rule
			if _, err := testStore.UpdatePanel(t.Context(), f.a, f.panel.ID, stAllow, PanelPatch{CohortRule: &rule}); err != nil {
				t.Fatal(err)
			}
			if got := f.keys(t, RowsQuery{}); !slices.Equal(got, tc.want) {
				t.Errorf("rows %v, want %v", got, tc.want)
			}
		})
	}
	deep := CohortRule{Logic: "AND", Conditions: []CohortCondition{}, Groups: []CohortGroup{{Conjunction: "and",
		Groups: []CohortGroup{{Conjunction: "or", Groups: []CohortGroup{{Conjunction: "and", Groups: []CohortGroup{{Conjunction: "or"}}}}}}}}}
	var ie *InvalidError
	if _, err := testStore.UpdatePanel(t.Context(), f.a, f.panel.ID, stAllow, PanelPatch{CohortRule: &deep}); !errors.As(err, &ie) ||
		ie.Problems[0].Field != "cohortRule.groups[0].groups[0].groups[0].groups[0]" {
		t.Fatalf("four levels: %v", err)
	}
	p := &Panel{Name: "deep", CohortRule: deep}
	if err := testStore.CreatePanel(t.Context(), f.a, p); !errors.As(err, &ie) {
		t.Fatalf("four levels at create: %v", err)
	}
}
