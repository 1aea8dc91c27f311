package server_test

import (
	"net/http"
	"testing"

	client "github.com/panels/panels/clients/go"
	"github.com/panels/panels/server/auth"
)

// properties.timeZone is checked when a column is created or updated: an unknown zone is a 422
// naming the property and changes nothing; a known one is kept as given.
func TestColumnTimeZoneValidation(t *testing.T) {
	c := newCaller(t, newTenant("coltz"), "alice", auth.RoleBuilder)
	ctx := t.Context()
	p := fxPanel(t, c, "Zones")
	ds := fxDataSource(t, c, p.Id, client.DataSourceTypeApi, fxUISource())
	good := fxBase(t, c, p.Id, ds.Id, "Seen", "seen", map[string]any{"timeZone": "America/New_York"})
	if good.Properties["timeZone"] != "America/New_York" {
		t.Fatalf("properties %v", good.Properties)
	}
	for _, bad := range []any{"Mars/Olympus_Mons", "Local", "", "america/new york", 5.0, "../../etc/passwd"} {
		r, err := c.api.CreateBaseColumnWithResponse(ctx, p.Id, nil, client.BaseColumnCreate{Name: "Bad", Type: client.ColumnTypeDatetime,
			SourceField: "seen", DataSourceId: ds.Id, Properties: map[string]any{"timeZone": bad}})
		if err != nil {
			t.Fatal(err)
		}
		if r.StatusCode() == http.StatusBadRequest { // the spec's type check (a number) answers first
			continue
		}
		fxAssertUnprocessable(t, "create", r.StatusCode(), r.Body, "properties.timeZone")
		props := map[string]any{"timeZone": bad}
		u, err := c.api.UpdateColumnWithResponse(ctx, p.Id, good.Id, nil, client.ColumnUpdate{Properties: &props})
		if err != nil {
			t.Fatal(err)
		}
		fxAssertUnprocessable(t, "update", u.StatusCode(), u.Body, "properties.timeZone")
		r2, err := c.api.CreateCalculatedColumnWithResponse(ctx, p.Id, nil, client.CalculatedColumnCreate{Name: "BadCalc",
			Type: client.ColumnTypeText, Formula: `"x"`, Properties: map[string]any{"timeZone": bad}})
		if err != nil {
			t.Fatal(err)
		}
		fxAssertUnprocessable(t, "create calculated", r2.StatusCode(), r2.Body, "properties.timeZone")
	}
	if st, col := fxGetColumn(t, c, p.Id, good.Id); st != http.StatusOK || col.Properties["timeZone"] != "America/New_York" {
		t.Errorf("after refusals: %d %+v", st, col)
	}
	l, _ := c.api.ListColumnsWithResponse(ctx, p.Id, nil)
	if n := len(l.JSON200.BaseColumns) + len(l.JSON200.CalculatedColumns); n != 1 {
		t.Errorf("%d columns after refusals, want 1", n)
	}
	// UTC and another zone are accepted on update.
	for _, z := range []string{"UTC", "Europe/London"} {
		props := map[string]any{"timeZone": z}
		u, err := c.api.UpdateColumnWithResponse(ctx, p.Id, good.Id, nil, client.ColumnUpdate{Properties: &props})
		if err != nil || u.StatusCode() != http.StatusOK || u.JSON200.Properties["timeZone"] != z {
			t.Errorf("update to %s: %v %d %s", z, err, u.StatusCode(), u.Body)
		}
	}
}
