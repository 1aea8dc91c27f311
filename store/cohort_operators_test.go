package store

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/uptrace/bun"
)

// setCohortRule saves a whole cohort rule (groups included) on the fixture's panel.
func (f *rowsFixture) setCohortRule(t *testing.T, rule CohortRule) {
	t.Helper()
	if rule.Conditions == nil {
		rule.Conditions = []CohortCondition{}
	}
	if _, err := testStore.UpdatePanel(t.Context(), f.a, f.panel.ID, stAllow, PanelPatch{CohortRule: &rule}); err != nil {
		t.Fatal(err)
	}
}

func cond(field, op string, v any) CohortCondition {
	return CohortCondition{Field: field, Operator: op, Value: v}
}

// inGroup is a rule whose only term is a group of the given conjunction.
func inGroup(conj string, cs ...CohortCondition) CohortRule {
	return CohortRule{Logic: "AND", Conditions: []CohortCondition{}, Groups: []CohortGroup{{Conjunction: conj, Conditions: cs}}}
}

// The view filters' operators in cohort groups, on columns and on dotted paths, over the data set
// of TestRowsNewOperators (opsRecords, now = opsNow). f.keys runs each case with pushdown and in Go
// only and requires both answers to agree.
func TestCohortGroupOperators(t *testing.T) {
	f := newOpsFixture(t)
	f.setView(t, nil, nil)
	mode := func(m string, days float64) map[string]any { return map[string]any{"mode": m, "numberOfDays": days} }
	// Name is not empty AND (Tags has green OR Seen is today).
	inner := inGroup("or", cond("Tags", "containsAny", []any{"green"}), cond("Seen", "isWithin", "today")).Groups
	nested := inGroup("and", cond("Name", "isNotEmpty", nil))
	nested.Groups[0].Groups = inner
	tests := []struct {
		name string
		rule CohortRule
		want []string
	}{
		// On columns: the meaning of the view filter of the same operator and value.
		{"isEmpty: empty text and null", inGroup("and", cond("Note", "isEmpty", nil)), []string{"o1", "o2"}},
		{"isNotEmpty on a number", inGroup("and", cond("Count", "isNotEmpty", nil)), []string{"o1", "o3"}},
		{"isNull", inGroup("and", cond("Note", "isNull", nil)), []string{"o2"}},
		{"isNotNull", inGroup("and", cond("Note", "isNotNull", nil)), []string{"o1", "o3", "o4", "o5"}},
		{"notContains keeps null cells", inGroup("and", cond("Name", "notContains", "A")), []string{"o2", "o3", "o4", "o5"}},
		{"notContains on a list", inGroup("and", cond("Tags", "notContains", "red")), []string{"o2", "o3", "o4"}},
		{"contains ignores case", inGroup("and", cond("Note", "contains", "BACK")), []string{"o3", "o4"}},
		{"startsWith ignores case", inGroup("and", cond("Name", "startsWith", "c")), []string{"o3"}},
		{"endsWith ignores case", inGroup("and", cond("Name", "endsWith", "E")), []string{"o3", "o4"}},
		{"containsAny text", inGroup("and", cond("Note", "containsAny", []any{"PAIN", "n/a"})), []string{"o4", "o5"}},
		{"containsAll text", inGroup("and", cond("Name", "containsAll", []any{"a", "D"})), []string{"o1"}},
		{"containsAny list items", inGroup("and", cond("Tags", "containsAny", []any{"red", "yellow"})), []string{"o1", "o5"}},
		{"containsAll list items", inGroup("and", cond("Tags", "containsAll", []any{"red", "GREEN"})), []string{"o5"}},
		{"containsAny calculated", inGroup("and", cond("Shout", "containsAny", []any{"ada", "BOB"})), []string{"o1", "o2"}},
		{"ne keeps null and failed cells", inGroup("and", cond("Count", "ne", 3.0)), []string{"o2", "o3", "o4", "o5"}},
		{"in, texts byte-wise", inGroup("and", cond("Name", "in", []any{"Ada", "bob", "BOB"})), []string{"o1", "o2"}},
		{"notIn", inGroup("and", cond("Count", "notIn", []any{0.0, 3.0})), []string{"o2", "o4", "o5"}},
		{"between numbers", inGroup("and", cond("Count", "between", []any{0.0, 3.0})), []string{"o1", "o3"}},
		{"isWithin today", inGroup("and", cond("Seen", "isWithin", "today")), []string{"o1"}},
		{"isWithin pastWeek", inGroup("and", cond("Seen", "isWithin", "pastWeek")), []string{"o1", "o2", "o4"}},
		{"isWithin nextWeek", inGroup("and", cond("Due", "isWithin", "nextWeek")), []string{"o1", "o4"}},
		{"isWithin nextNumberOfDays", inGroup("and", cond("Due", "isWithin", mode("nextNumberOfDays", 16))), []string{"o1", "o3", "o4"}},
		{"isWithin pastNumberOfDays", inGroup("and", cond("Due", "isWithin", mode("pastNumberOfDays", 1))), []string{"o2"}},
		{"before today", inGroup("and", cond("Due", "before", "today")), []string{"o2"}},
		{"after today", inGroup("and", cond("Due", "after", "today")), []string{"o1", "o3", "o4", "o5"}},
		{"onOrBefore an exact date", inGroup("and", cond("Due", "onOrBefore", "2026-06-16")), []string{"o1", "o2"}},
		{"onOrAfter a relative mode", inGroup("and", cond("Due", "onOrAfter", mode("nextNumberOfDays", 7))), []string{"o1", "o3", "o4", "o5"}},
		{"before an instant", inGroup("and", cond("Seen", "before", "2026-06-14T23:59:59Z")), []string{"o2", "o3"}},
		{"after a whole day", inGroup("and", cond("Seen", "after", "2026-06-14")), []string{"o1"}},
		{"released operators keep their meaning in a group", inGroup("and", cond("Count", "gte", 1)), []string{"o1"}},

		// On dotted paths of the primary source's records.
		{"path isEmpty", inGroup("and", cond("note", "isEmpty", nil)), []string{"o1", "o2"}},
		{"path isNotEmpty, missing values are empty", inGroup("and", cond("name", "isNotEmpty", nil)), []string{"o1", "o2", "o3", "o4"}},
		{"path isEmpty on a missing field", inGroup("and", cond("no.such.field", "isEmpty", nil)), []string{"o1", "o2", "o3", "o4", "o5"}},
		{"path contains ignores case", inGroup("and", cond("name", "contains", "A")), []string{"o1"}},
		{"path notContains", inGroup("and", cond("note", "notContains", "back")), []string{"o1", "o2", "o5"}},
		{"path containsAny reads a list as its text", inGroup("and", cond("tags", "containsAny", []any{"RED"})), []string{"o1", "o5"}},
		{"path ne a text", inGroup("and", cond("name", "ne", "bob")), []string{"o1", "o3", "o4", "o5"}},
		{"path in numbers", inGroup("and", cond("count", "in", []any{0.0, 3.0})), []string{"o1", "o3"}},
		{"path notIn texts", inGroup("and", cond("name", "notIn", []any{"Ada", "d_e"})), []string{"o2", "o3", "o5"}},
		{"path between", inGroup("and", cond("count", "between", []any{1.0, 5.0})), []string{"o1"}},
		{"path isWithin reads dates", inGroup("and", cond("due", "isWithin", "nextWeek")), []string{"o1", "o4"}},
		{"path before today reads date-times", inGroup("and", cond("seen", "before", "today")), []string{"o2", "o3", "o4"}},
		{"path onOrBefore an instant", inGroup("and", cond("seen", "onOrBefore", "2026-06-14T23:59:59Z")), []string{"o2", "o3", "o4"}},
		{"path date operator on a text matches nothing", inGroup("and", cond("name", "after", "2000-01-01")), nil},

		// Groups mixing SQL and Go conditions, nested, and next to top-level conditions.
		{"or of a Go date and an SQL text", inGroup("or", cond("Due", "isWithin", "nextWeek"), cond("Note", "isEmpty", nil)), []string{"o1", "o2", "o4"}},
		{"nested", nested, []string{"o1", "o3"}},
		{"top-level OR with a group", CohortRule{Logic: "OR", Conditions: []CohortCondition{cond("Count", "gte", 3)},
			Groups: []CohortGroup{{Conjunction: "and", Conditions: []CohortCondition{cond("tags", "containsAny", []any{"green"}), cond("Due", "after", "2026-12-31")}}}},
			[]string{"o1", "o5"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.setCohortRule(t, tc.rule)
			if got := f.keys(t, RowsQuery{Now: opsNow}); !slices.Equal(got, tc.want) {
				t.Errorf("rows %v, want %v", got, tc.want)
			}
		})
	}
	// Relative dates follow the query's clock: a day later, "today" is another day.
	f.setCohortRule(t, inGroup("and", cond("due", "isWithin", "today")))
	if got := f.keys(t, RowsQuery{Now: opsNow.AddDate(0, 0, 1)}); !slices.Equal(got, []string{"o1"}) {
		t.Errorf("today a day later: %v", got)
	}
}

// The new operators on SQL-typed base columns and paths run in PostgreSQL, not only in Go.
func TestCohortGroupOperatorsPushDown(t *testing.T) {
	f := newOpsFixture(t)
	f.setView(t, nil, nil)
	f.setCohortRule(t, inGroup("and", cond("Name", "containsAny", []any{"ada", "zed"}), cond("note", "isEmpty", nil)))
	sqlOf := func(goOnly bool) string {
		plan, err := testStore.PlanRows(t.Context(), f.a, RowsQuery{PanelID: f.panel.ID, Limit: 10, Now: opsNow, GoOnly: goOnly})
		if err != nil {
			t.Fatal(err)
		}
		var q string
		err = testStore.db.RunInTx(t.Context(), nil, func(ctx context.Context, tx bun.Tx) error {
			gens, err := plan.generations(ctx, tx)
			q, _ = plan.plan.FirstPageSQL(gens)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	if q := sqlOf(false); !strings.Contains(q, "strpos(lower(") || !strings.Contains(q, "COALESCE(") || !strings.Contains(q, "= '')") {
		t.Errorf("containsAny and isEmpty were not pushed down:\n%s", q)
	}
	if q := sqlOf(true); strings.Contains(q, "strpos(") {
		t.Errorf("GoOnly still pushed a condition:\n%s", q)
	}
	if got := f.keys(t, RowsQuery{Now: opsNow}); !slices.Equal(got, []string{"o1"}) {
		t.Errorf("rows %v, want o1", got)
	}
}

// A cohort rule's operators and values are checked as a view filter's are; a refused rule changes
// nothing. Top-level conditions take the released operators only.
func TestCohortGroupValues(t *testing.T) {
	f := newOpsFixture(t)
	good := inGroup("or", cond("Note", "isEmpty", nil), cond("Due", "isWithin", "nextWeek"))
	f.setCohortRule(t, good)
	refuse := func(name string, rule CohortRule, field, reason string) {
		t.Helper()
		if rule.Conditions == nil {
			rule.Conditions = []CohortCondition{}
		}
		_, err := testStore.UpdatePanel(t.Context(), f.a, f.panel.ID, stAllow, PanelPatch{CohortRule: &rule})
		var ie *InvalidError
		if !errors.As(err, &ie) || len(ie.Problems) == 0 || ie.Problems[0].Field != field || !strings.Contains(ie.Problems[0].Reason, reason) {
			t.Errorf("%s: %v %+v, want a problem on %s saying %q", name, err, ie, field, reason)
		}
		p := &Panel{Name: "refused", CohortRule: rule}
		if err := testStore.CreatePanel(t.Context(), f.a, p); !errors.As(err, &ie) {
			t.Errorf("%s on create: %v", name, err)
		}
	}
	for _, bad := range []struct {
		op string
		v  any
	}{
		{"isEmpty", "x"}, {"isNotEmpty", 1.0}, {"isNull", "x"}, {"notContains", nil}, {"contains", 3.0},
		{"containsAny", "x"}, {"containsAny", []any{}}, {"containsAll", []any{"a", 1.0}}, {"containsAny", make([]any, MaxFilterValues+1)},
		{"in", []any{}}, {"notIn", "x"}, {"between", []any{1.0}}, {"ne", nil},
		{"isWithin", "2026-01-01"}, {"isWithin", "someday"}, {"isWithin", map[string]any{"mode": "pastNumberOfDays"}},
		{"isWithin", map[string]any{"mode": "pastNumberOfDays", "numberOfDays": 1.5}},
		{"isWithin", map[string]any{"mode": "today", "numberOfDays": 3.0}}, {"isWithin", nil},
		{"before", "not a date"}, {"after", 3.0}, {"onOrBefore", nil}, {"onOrAfter", map[string]any{"mode": "nope"}},
	} {
		refuse(bad.op, inGroup("and", cond("Due", "isEmpty", nil), cond("Due", bad.op, bad.v)), "cohortRule.groups[0].conditions[1].value", bad.op)
	}
	refuse("an unknown operator in a group", inGroup("and", cond("Due", "like", "x")), "cohortRule.groups[0].conditions[0].operator", "unknown operator")
	refuse("a group operator at the top level", CohortRule{Logic: "AND", Conditions: []CohortCondition{cond("Note", "isEmpty", nil)}},
		"cohortRule.conditions[0].operator", "put the condition in cohortRule.groups")
	refuse("an unknown operator at the top level", CohortRule{Logic: "AND", Conditions: []CohortCondition{cond("Note", "like", "x")}},
		"cohortRule.conditions[0].operator", "unknown operator")
	deep := CohortRule{Logic: "AND", Groups: []CohortGroup{{Conjunction: "and", Groups: []CohortGroup{{Conjunction: "or", Groups: []CohortGroup{{Conjunction: "and",
		Groups: []CohortGroup{{Conjunction: "or", Conditions: []CohortCondition{cond("Note", "isEmpty", nil)}}}}}}}}}}
	refuse("four levels", deep, "cohortRule.groups[0].groups[0].groups[0].groups[0]", "at most 3 levels")
	p, err := testStore.PanelAccess(t.Context(), f.a, f.panel.ID)
	if err != nil || !reflect.DeepEqual(normalJSON(p.CohortRule), normalJSON(good)) {
		t.Fatalf("after refusals: %v %+v", err, p.CohortRule)
	}
}
