package server_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	client "github.com/panels/panels/clients/go"
	"github.com/panels/panels/server/auth"
	curs "github.com/panels/panels/server/cursor"
)

// fxChangesPage fetches GET /api/changes/panels with the exact query.
func fxChangesPage(t testing.TB, c *caller, query string) (int, client.ChangeList, []byte) {
	t.Helper()
	resp, body := raw(t, http.MethodGet, "/api/changes/panels"+query, c.token, nil, nil)
	var out client.ChangeList
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, out, body
}

func fxChangeIDs(chs []client.PanelChange) []int64 {
	out := make([]int64, len(chs))
	for i, ch := range chs {
		out[i] = ch.Id
	}
	return out
}

// fxCraftCursor signs a changes cursor the way the server does.
func fxCraftCursor(scope string, micros, id int64, issued time.Time) string {
	return signedCursor("changes", scope, &curs.Key{Time: micros, ID: id}, issued)
}

type fxWantChange struct {
	ct       client.ChangeType
	et       client.EntityType
	id       int64
	action   client.ChangeAction
	affected string // "" means null
	panel    string
	by       *caller
}

func TestChangesRecordEveryMutation(t *testing.T) {
	tenant := newTenant("chall")
	c := newCaller(t, tenant, "alice", auth.RoleBuilder)
	root := newCaller(t, tenant, "root", auth.RoleAdmin)
	ctx := t.Context()

	p := fxPanel(t, c, "Ward A")
	ds := fxDataSource(t, c, p.Id, client.DataSourceTypeApi, fxUISource())
	if st, body, _, _ := fxDSForms[1].update(c, p.Id, ds.Id, nil, client.DataSourceUpdate{Config: ptr(client.DataSourceConfig(map[string]any{"endpoint": "/v2", "method": "GET"}))}); st != http.StatusOK {
		t.Fatalf("update source: %d %s", st, body)
	}
	b := fxBase(t, c, p.Id, ds.Id, "MRN", "mrn", nil)
	calc := fxCalc(t, c, p.Id, "Label", `[MRN] & "!"`, nil)
	if r, _ := c.api.UpdateColumnWithResponse(ctx, p.Id, b.Id, nil, client.ColumnUpdate{Name: ptr("MRN2")}); r.StatusCode() != http.StatusOK {
		t.Fatalf("rename: %d %s", r.StatusCode(), r.Body)
	}
	if r, _ := c.api.DeleteColumnWithResponse(ctx, p.Id, calc.Id, nil); r.StatusCode() != http.StatusNoContent {
		t.Fatalf("delete column: %d %s", r.StatusCode(), r.Body)
	}
	if r, _ := c.api.UpdatePanelWithResponse(ctx, p.Id, nil, client.PanelUpdate{Name: ptr("Ward B")}); r.StatusCode() != http.StatusOK {
		t.Fatalf("rename panel: %d %s", r.StatusCode(), r.Body)
	}
	if r, _ := c.api.UpdatePanelWithResponse(ctx, p.Id, nil, client.PanelUpdate{CohortRule: &client.CohortRule{Logic: client.AND,
		Conditions: []client.CohortCondition{{Field: "MRN2", Operator: client.CohortOperatorEq}}}}); r.StatusCode() != http.StatusOK {
		t.Fatalf("cohort: %d %s", r.StatusCode(), r.Body)
	}
	// Another user (an admin) removes the source, detaching MRN2.
	if st, body := fxDSForms[0].delete(root, p.Id, ds.Id, true, nil); st != http.StatusNoContent {
		t.Fatalf("delete source: %d %s", st, body)
	}

	want := []fxWantChange{ // newest first
		{client.SourceRemoved, client.EntityTypeDatasource, ds.Id, client.Delete, "", "Ward B", root},
		{client.ColumnModified, client.EntityTypeColumn, b.Id, client.Update, "MRN2", "Ward B", root},
		{client.CohortChanged, client.EntityTypePanel, p.Id, client.Update, "", "Ward B", c},
		{client.PanelUpdated, client.EntityTypePanel, p.Id, client.Update, "", "Ward B", c},
		{client.ColumnRemoved, client.EntityTypeColumn, calc.Id, client.Delete, "Label", "Ward A", c},
		{client.ColumnModified, client.EntityTypeColumn, b.Id, client.Update, "MRN2", "Ward A", c},
		{client.ColumnAdded, client.EntityTypeColumn, calc.Id, client.Create, "Label", "Ward A", c},
		{client.ColumnAdded, client.EntityTypeColumn, b.Id, client.Create, "MRN", "Ward A", c},
		{client.SourceChanged, client.EntityTypeDatasource, ds.Id, client.Update, "", "Ward A", c},
		{client.SourceAdded, client.EntityTypeDatasource, ds.Id, client.Create, "", "Ward A", c},
		{client.PanelCreated, client.EntityTypePanel, p.Id, client.Create, "", "Ward A", c},
	}
	check := func(t *testing.T, got []client.PanelChange, want []fxWantChange) {
		t.Helper()
		if len(got) != len(want) {
			var types []string
			for _, ch := range got {
				types = append(types, string(ch.ChangeType))
			}
			t.Fatalf("%d changes %v, want %d", len(got), types, len(want))
		}
		for i, w := range want {
			ch := got[i]
			affected, _ := ch.AffectedColumn.Get()
			if ch.AffectedColumn.IsNull() != (w.affected == "") {
				t.Errorf("#%d %s: affectedColumn null=%v, want %q", i, w.ct, ch.AffectedColumn.IsNull(), w.affected)
			}
			email, _ := ch.ChangedByEmail.Get()
			if ch.ChangeType != w.ct || ch.EntityType != w.et || ch.EntityId != w.id || ch.Action != w.action || affected != w.affected ||
				ch.PanelId != p.Id || ch.PanelName != w.panel || ch.ChangedBy != w.by.user || email != w.by.email || ch.Description == "" {
				t.Errorf("#%d: got %s %s/%d %s affected=%q panel=%d %q by %s <%s>; want %s %s/%d %s affected=%q panel %q by %s <%s>",
					i, ch.ChangeType, ch.EntityType, ch.EntityId, ch.Action, affected, ch.PanelId, ch.PanelName, ch.ChangedBy, email,
					w.ct, w.et, w.id, w.action, w.affected, w.panel, w.by.user, w.by.email)
			}
			if i > 0 && ch.ChangedAt.After(got[i-1].ChangedAt.Time) {
				t.Errorf("#%d is newer than #%d: not newest first", i, i-1)
			}
			if ch.ChangedAt.IsZero() || ch.ChangedAt.Location() != time.UTC {
				t.Errorf("#%d changedAt %v", i, ch.ChangedAt)
			}
		}
	}
	t.Run("owner", func(t *testing.T) {
		check(t, fxChanges(t, c, p.Id), want)
	})

	// Values carry what changed.
	all := fxChanges(t, c, p.Id)
	if nv := fxValues(all[3].NewValues); nv["name"] != "Ward B" || fxValues(all[3].OldValues)["name"] != "Ward A" {
		t.Errorf("panel_updated values %v -> %v", fxValues(all[3].OldValues), nv)
	}
	if _, ok := fxValues(all[2].NewValues)["cohortRule"]; !ok {
		t.Errorf("cohort_changed newValues %v", fxValues(all[2].NewValues))
	}
	if nv := fxValues(all[7].NewValues); nv["name"] != "MRN" || nv["sourceField"] != "mrn" || nv["columnType"] != "base" || !all[7].OldValues.IsNull() {
		t.Errorf("column_added values %v", nv)
	}
	if nv := fxValues(all[6].NewValues); nv["formula"] != `[MRN] & "!"` {
		t.Errorf("calculated column_added values %v", nv)
	}
	if ov := fxValues(all[4].OldValues); ov["name"] != "Label" || ov["formula"] != `[MRN2] & "!"` || !all[4].NewValues.IsNull() {
		t.Errorf("column_removed values %v (formula rendered with the current names)", ov)
	}

	// The admin deletes the panel: the history stays, visible to admins only.
	if r, _ := root.api.DeletePanelWithResponse(ctx, p.Id, nil); r.StatusCode() != http.StatusNoContent {
		t.Fatalf("delete panel: %d %s", r.StatusCode(), r.Body)
	}
	want = append([]fxWantChange{{client.PanelDeleted, client.EntityTypePanel, p.Id, client.Delete, "", "Ward B", root}}, want...)
	t.Run("admin after delete", func(t *testing.T) {
		check(t, fxChanges(t, root, p.Id), want)
		st, list, body := fxChangesPage(t, root, "?limit=500")
		if st != http.StatusOK {
			t.Fatalf("%d %s", st, body)
		}
		check(t, list.Changes, want)
		if list.Total != len(want) || list.TotalCapped || list.HasMore {
			t.Errorf("total %d capped %v hasMore %v", list.Total, list.TotalCapped, list.HasMore)
		}
	})
	t.Run("owner after delete", func(t *testing.T) {
		st, _, body := fxChangesPage(t, c, fmt.Sprintf("?panelId=%d", p.Id))
		if st != http.StatusNotFound {
			t.Errorf("deleted panel's history for a non-admin: %d, want 404: %s", st, body)
		}
		st, list, body := fxChangesPage(t, c, "")
		if st != http.StatusOK || len(list.Changes) != 0 || list.Total != 0 || list.HasMore {
			t.Errorf("non-admin unfiltered list after delete: %d %s", st, body)
		}
	})
}

func TestChangesWithoutEmail(t *testing.T) {
	tenant := newTenant("chnoemail")
	c := newCaller(t, tenant, "svc-123", auth.RoleBuilder)
	c.token = token(t, tenant, "svc-123", "", auth.RoleBuilder)
	p := fxPanel(t, c, "No email")
	chs := fxChanges(t, c, p.Id)
	if len(chs) != 1 || chs[0].ChangedBy != "svc-123" || !chs[0].ChangedByEmail.IsNull() {
		t.Errorf("changes %+v", chs)
	}
}

func TestChangesFilters(t *testing.T) {
	tenant := newTenant("chfilter")
	c := newCaller(t, tenant, "alice", auth.RoleBuilder)
	p1 := fxPanel(t, c, "One")
	p2 := fxPanel(t, c, "Two")
	ds1 := fxDataSource(t, c, p1.Id, client.DataSourceTypeCustom, map[string]any{})
	ds2 := fxDataSource(t, c, p2.Id, client.DataSourceTypeCustom, map[string]any{})
	fxBase(t, c, p1.Id, ds1.Id, "a", "a", nil)
	fxBase(t, c, p2.Id, ds2.Id, "b", "b", nil)
	time.Sleep(30 * time.Millisecond)
	late := fxBase(t, c, p1.Id, ds1.Id, "c", "c", nil)
	fxCalc(t, c, p2.Id, "d", `[b]`, nil)

	all := fxChanges(t, c, p1.Id)
	var since time.Time
	for _, ch := range all {
		if ch.EntityId == late.Id && ch.ChangeType == client.ColumnAdded {
			since = ch.ChangedAt.Time
		}
	}
	if since.IsZero() {
		t.Fatal("column_added of c not recorded")
	}
	q := func(s string) string { return url.QueryEscape(s) }

	type row struct {
		ct    client.ChangeType
		panel int64
	}
	for _, tc := range []struct {
		query string
		want  []row
	}{
		{"", []row{{client.ColumnAdded, p2.Id}, {client.ColumnAdded, p1.Id}, {client.ColumnAdded, p2.Id}, {client.ColumnAdded, p1.Id},
			{client.SourceAdded, p2.Id}, {client.SourceAdded, p1.Id}, {client.PanelCreated, p2.Id}, {client.PanelCreated, p1.Id}}},
		{fmt.Sprintf("?panelId=%d", p1.Id), []row{{client.ColumnAdded, p1.Id}, {client.ColumnAdded, p1.Id}, {client.SourceAdded, p1.Id}, {client.PanelCreated, p1.Id}}},
		{"?changeType=source_added", []row{{client.SourceAdded, p2.Id}, {client.SourceAdded, p1.Id}}},
		{fmt.Sprintf("?changeType=column_added&panelId=%d", p2.Id), []row{{client.ColumnAdded, p2.Id}, {client.ColumnAdded, p2.Id}}},
		{"?since=" + q(since.Format(time.RFC3339Nano)), []row{{client.ColumnAdded, p2.Id}, {client.ColumnAdded, p1.Id}}},
		{"?since=" + q(since.Format(time.RFC3339Nano)) + fmt.Sprintf("&panelId=%d", p1.Id), []row{{client.ColumnAdded, p1.Id}}},
		{"?since=" + q(since.In(time.FixedZone("X", 2*3600)).Format(time.RFC3339Nano)), []row{{client.ColumnAdded, p2.Id}, {client.ColumnAdded, p1.Id}}},
		{"?since=" + q(time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), nil},
		{"?changeType=panel_deleted", nil},
	} {
		t.Run(tc.query, func(t *testing.T) {
			st, list, body := fxChangesPage(t, c, tc.query)
			if st != http.StatusOK {
				t.Fatalf("%d %s", st, body)
			}
			var got []row
			for _, ch := range list.Changes {
				got = append(got, row{ch.ChangeType, ch.PanelId})
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("changes %v, want %v", got, tc.want)
			}
			if list.Total != len(tc.want) || list.TotalCapped || list.HasMore || list.NextCursor != nil {
				t.Errorf("total %d capped %v hasMore %v nextCursor %v", list.Total, list.TotalCapped, list.HasMore, list.NextCursor)
			}
			if list.Changes == nil {
				t.Errorf("changes is null: %s", body)
			}
		})
	}
	for _, bad := range []string{"?changeType=nope", "?since=yesterday", "?panelId=abc", "?panelId=0", "?limit=0", "?limit=501", "?offset=-1"} {
		if st, _, body := fxChangesPage(t, c, bad); st != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400: %s", bad, st, body)
		}
	}
}

func TestChangesPaging(t *testing.T) {
	c := newCaller(t, newTenant("chpage"), "alice", auth.RoleBuilder)
	p := fxPanel(t, c, "Paging")
	for i := range 11 {
		fxDataSource(t, c, p.Id, client.DataSourceTypeCustom, map[string]any{"n": i})
	}
	st, full, body := fxChangesPage(t, c, "?limit=500")
	if st != http.StatusOK || len(full.Changes) != 12 || full.Total != 12 || full.HasMore || full.TotalCapped {
		t.Fatalf("full list: %d %s", st, body)
	}
	want := fxChangeIDs(full.Changes)
	// The default page holds everything here.
	if st, def, _ := fxChangesPage(t, c, ""); st != http.StatusOK || !slices.Equal(fxChangeIDs(def.Changes), want) {
		t.Errorf("default page %v", fxChangeIDs(def.Changes))
	}

	for _, limit := range []int{1, 5, 11, 12, 13} {
		t.Run(fmt.Sprintf("offset/limit=%d", limit), func(t *testing.T) {
			var got []int64
			for offset := 0; ; offset += limit {
				st, page, body := fxChangesPage(t, c, fmt.Sprintf("?limit=%d&offset=%d", limit, offset))
				if st != http.StatusOK {
					t.Fatalf("%d %s", st, body)
				}
				if page.Total != 12 || page.TotalCapped {
					t.Errorf("offset %d: total %d capped %v", offset, page.Total, page.TotalCapped)
				}
				if wantMore := offset+limit < 12; page.HasMore != wantMore || (page.NextCursor != nil) != wantMore {
					t.Errorf("offset %d: hasMore %v nextCursor %v, want %v", offset, page.HasMore, page.NextCursor, wantMore)
				}
				got = append(got, fxChangeIDs(page.Changes)...)
				if !page.HasMore {
					break
				}
				if offset > 100 {
					t.Fatal("never ends")
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("pages %v, want %v", got, want)
			}
		})
		t.Run(fmt.Sprintf("cursor/limit=%d", limit), func(t *testing.T) {
			var got []int64
			query := fmt.Sprintf("?limit=%d", limit)
			for pages := 0; ; pages++ {
				if pages > 20 {
					t.Fatal("nextCursor never ends")
				}
				st, page, body := fxChangesPage(t, c, query)
				if st != http.StatusOK {
					t.Fatalf("%s: %d %s", query, st, body)
				}
				if page.Total != 12 {
					t.Errorf("total %d", page.Total)
				}
				got = append(got, fxChangeIDs(page.Changes)...)
				if page.NextCursor == nil {
					if page.HasMore {
						t.Error("hasMore without nextCursor")
					}
					break
				}
				query = fmt.Sprintf("?limit=%d&cursor=%s", limit, url.QueryEscape(*page.NextCursor))
			}
			if !slices.Equal(got, want) {
				t.Errorf("pages %v, want %v", got, want)
			}
		})
	}
	// Past the end: empty, no more.
	if st, page, body := fxChangesPage(t, c, "?limit=5&offset=40"); st != http.StatusOK || len(page.Changes) != 0 || page.HasMore || page.Total != 12 {
		t.Errorf("past the end: %d %s", st, body)
	}
	// A cursor wins over an offset.
	_, first, _ := fxChangesPage(t, c, "?limit=4")
	st, second, body := fxChangesPage(t, c, "?limit=4&offset=9&cursor="+url.QueryEscape(*first.NextCursor))
	if st != http.StatusOK || !slices.Equal(fxChangeIDs(second.Changes), want[4:8]) {
		t.Errorf("cursor with offset: %d %s", st, body)
	}
	// Rows written in one transaction share changed_at: the cursor must still neither skip nor repeat.
	tie := fxPanel(t, c, "Ties")
	if _, err := fxDB(t).ExecContext(t.Context(), `INSERT INTO panel_changes
		(tenant_id, panel_id, panel_name, change_type, entity_type, entity_id, action, description, changed_by, changed_at)
		SELECT $1, $2, 'Ties', 'column_removed', 'column', g, 'delete', 'tie', 'alice', '2026-01-02T03:04:05.123456Z'
		FROM generate_series(1, 7) AS g`, c.tenant, tie.Id); err != nil {
		t.Fatal(err)
	}
	_, tfull, _ := fxChangesPage(t, c, fmt.Sprintf("?panelId=%d&limit=500", tie.Id))
	if len(tfull.Changes) != 8 {
		t.Fatalf("tie panel: %d changes", len(tfull.Changes))
	}
	var tgot []int64
	query := fmt.Sprintf("?panelId=%d&limit=2", tie.Id)
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("nextCursor never ends")
		}
		st, page, body := fxChangesPage(t, c, query)
		if st != http.StatusOK {
			t.Fatalf("%d %s", st, body)
		}
		tgot = append(tgot, fxChangeIDs(page.Changes)...)
		if page.NextCursor == nil {
			break
		}
		query = fmt.Sprintf("?panelId=%d&limit=2&cursor=%s", tie.Id, url.QueryEscape(*page.NextCursor))
	}
	if !slices.Equal(tgot, fxChangeIDs(tfull.Changes)) {
		t.Errorf("tied rows paged as %v, want %v", tgot, fxChangeIDs(tfull.Changes))
	}
	// The generated client pages the same way.
	r, err := c.api.ListPanelChangesWithResponse(t.Context(), &client.ListPanelChangesParams{PanelId: &p.Id, Limit: ptr(5), Offset: ptr(10)})
	if err != nil || r.StatusCode() != http.StatusOK || !slices.Equal(fxChangeIDs(r.JSON200.Changes), want[10:]) || r.JSON200.HasMore {
		t.Errorf("client paging: %v %s", err, r.Body)
	}
}

func TestChangesCursorErrors(t *testing.T) {
	tenant := newTenant("chcursor")
	c := newCaller(t, tenant, "alice", auth.RoleBuilder)
	p := fxPanel(t, c, "Cursors")
	q := fxPanel(t, c, "Other")
	for range 3 {
		fxDataSource(t, c, p.Id, client.DataSourceTypeCustom, map[string]any{})
	}
	_, page, _ := fxChangesPage(t, c, "?limit=2")
	if page.NextCursor == nil {
		t.Fatal("no nextCursor")
	}
	good := *page.NextCursor
	_, ppage, _ := fxChangesPage(t, c, fmt.Sprintf("?limit=1&panelId=%d", p.Id))
	_, tpage, _ := fxChangesPage(t, c, "?limit=1&changeType=source_added")
	resp, _ := raw(t, http.MethodGet, fmt.Sprintf("/api/panels/%d/datasources?limit=1", p.Id), c.token, nil, nil)
	m := fxLinkRE.FindStringSubmatch(resp.Header.Get("Link"))
	if m == nil || ppage.NextCursor == nil || tpage.NextCursor == nil {
		t.Fatal("missing cursors to test with")
	}
	lq, _ := url.ParseQuery(strings.SplitN(m[1], "?", 2)[1])
	dsCursor := lq.Get("cursor")

	other := newCaller(t, newTenant("chcursor-other"), "eve", auth.RoleAdmin)
	fxPanel(t, other, "Eve")

	last := page.Changes[len(page.Changes)-1]
	fresh := fxCraftCursor(tenant+"|", last.ChangedAt.UnixMicro(), last.Id, time.Now())
	expired := fxCraftCursor(tenant+"|", last.ChangedAt.UnixMicro(), last.Id, time.Now().Add(-25*time.Hour))
	expiredPanel := fxCraftCursor(tenant+"||"+strconv.FormatInt(p.Id, 10), last.ChangedAt.UnixMicro(), last.Id, time.Now().Add(-48*time.Hour))

	for _, tc := range []struct {
		name  string
		who   *caller
		query string
		want  int
	}{
		{"own cursor", c, "?limit=2&cursor=" + url.QueryEscape(good), http.StatusOK},
		{"crafted fresh cursor", c, "?limit=2&cursor=" + fresh, http.StatusOK},
		{"data source list cursor", c, "?cursor=" + url.QueryEscape(dsCursor), http.StatusBadRequest},
		{"garbage", c, "?cursor=" + url.QueryEscape("!!not a cursor!!"), http.StatusBadRequest},
		{"base64 not json", c, "?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("not json")), http.StatusBadRequest},
		{"json without id", c, "?cursor=" + base64.RawURLEncoding.EncodeToString([]byte(`{"l":"changes","s":"`+tenant+`|","x":`+strconv.FormatInt(time.Now().Unix(), 10)+`}`)), http.StatusBadRequest},
		{"panel cursor on unfiltered list", c, "?cursor=" + url.QueryEscape(*ppage.NextCursor), http.StatusBadRequest},
		{"panel cursor on another panel", c, fmt.Sprintf("?panelId=%d&cursor=%s", q.Id, url.QueryEscape(*ppage.NextCursor)), http.StatusBadRequest},
		{"panel cursor on its panel", c, fmt.Sprintf("?panelId=%d&cursor=%s", p.Id, url.QueryEscape(*ppage.NextCursor)), http.StatusOK},
		{"type cursor without the type", c, "?cursor=" + url.QueryEscape(*tpage.NextCursor), http.StatusBadRequest},
		{"type cursor with another type", c, "?changeType=panel_created&cursor=" + url.QueryEscape(*tpage.NextCursor), http.StatusBadRequest},
		{"unfiltered cursor with a filter", c, "?changeType=source_added&cursor=" + url.QueryEscape(good), http.StatusBadRequest},
		{"another tenant's cursor", other, "?cursor=" + url.QueryEscape(good), http.StatusBadRequest},
		{"expired", c, "?cursor=" + expired, http.StatusGone},
		{"expired panel cursor", c, fmt.Sprintf("?panelId=%d&cursor=%s", p.Id, expiredPanel), http.StatusGone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, list, body := fxChangesPage(t, tc.who, tc.query)
			if st != tc.want {
				t.Fatalf("%d, want %d: %s", st, tc.want, body)
			}
			switch st {
			case http.StatusBadRequest:
				if f := fxFields(fxProblem(t, body)); !slices.Equal(f, []string{"query.cursor"}) {
					t.Errorf("errors[] %v, want [query.cursor]", f)
				}
			case http.StatusGone:
				if prob := fxProblem(t, body); prob.Status != http.StatusGone || prob.Message == "" {
					t.Errorf("410 problem %s", body)
				}
			case http.StatusOK:
				for _, ch := range list.Changes {
					if ch.Id >= last.Id && tc.name != "panel cursor on its panel" {
						t.Errorf("page after the cursor holds change %d (cursor at %d)", ch.Id, last.Id)
					}
				}
			}
		})
	}
}

func TestChangesVisibility(t *testing.T) {
	tenant := newTenant("chvis")
	alice := newCaller(t, tenant, "alice", auth.RoleBuilder)
	bob := newCaller(t, tenant, "bob", auth.RoleBuilder)
	carol := newCaller(t, tenant, "carol", auth.RoleUser)
	root := newCaller(t, tenant, "root", auth.RoleAdmin)
	eve := newCaller(t, newTenant("chvis-other"), "eve", auth.RoleAdmin)

	pa := fxPanel(t, alice, "Alice's")
	fxDataSource(t, alice, pa.Id, client.DataSourceTypeCustom, map[string]any{})
	pb := fxPanel(t, bob, "Bob's")
	fxPanel(t, eve, "Eve's")

	panelQ := func(id int64) string { return fmt.Sprintf("?panelId=%d", id) }
	for _, tc := range []struct {
		name  string
		who   *caller
		query string
		want  int
	}{
		{"owner", alice, panelQ(pa.Id), http.StatusOK},
		{"same tenant, no access", bob, panelQ(pa.Id), http.StatusNotFound},
		{"user role, no access", carol, panelQ(pa.Id), http.StatusNotFound},
		{"admin of the tenant", root, panelQ(pa.Id), http.StatusOK},
		{"other tenant's admin", eve, panelQ(pa.Id), http.StatusNotFound},
		{"missing panel", alice, panelQ(pa.Id + 1000000), http.StatusNotFound},
		{"missing panel, admin", root, panelQ(pa.Id + 1000000), http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, list, body := fxChangesPage(t, tc.who, tc.query)
			if st != tc.want {
				t.Fatalf("%d, want %d: %s", st, tc.want, body)
			}
			if st == http.StatusOK && (list.Total != 2 || len(list.Changes) != 2) {
				t.Errorf("total %d, %d changes, want 2", list.Total, len(list.Changes))
			}
			if st == http.StatusNotFound && strings.Contains(string(body), "Alice") {
				t.Errorf("404 reveals the panel: %s", body)
			}
		})
	}

	// Unfiltered lists hold the readable panels only.
	panelsOf := func(who *caller) []int64 {
		st, list, body := fxChangesPage(t, who, "?limit=500")
		if st != http.StatusOK {
			t.Fatalf("%d %s", st, body)
		}
		var ids []int64
		for _, ch := range list.Changes {
			if !slices.Contains(ids, ch.PanelId) {
				ids = append(ids, ch.PanelId)
			}
		}
		slices.Sort(ids)
		if list.Total != len(list.Changes) {
			t.Errorf("total %d for %d changes", list.Total, len(list.Changes))
		}
		return ids
	}
	if got := panelsOf(alice); !slices.Equal(got, []int64{pa.Id}) {
		t.Errorf("alice sees panels %v", got)
	}
	if got := panelsOf(bob); !slices.Equal(got, []int64{pb.Id}) {
		t.Errorf("bob sees panels %v", got)
	}
	if got := panelsOf(carol); len(got) != 0 {
		t.Errorf("carol sees panels %v", got)
	}
	if got := panelsOf(root); !slices.Equal(got, []int64{pa.Id, pb.Id}) {
		t.Errorf("root sees panels %v", got)
	}

	// A grant makes the history readable, by email or by sub or to everyone.
	fxGrant(t, tenant, pa.Id, bob.email, "viewer")
	if st, list, body := fxChangesPage(t, bob, panelQ(pa.Id)); st != http.StatusOK || list.Total != 2 {
		t.Errorf("viewer bob: %d %s", st, body)
	}
	if got := panelsOf(bob); !slices.Equal(got, []int64{pa.Id, pb.Id}) {
		t.Errorf("bob with a grant sees panels %v", got)
	}
	fxGrant(t, tenant, pb.Id, "_all", "viewer")
	if got := panelsOf(carol); !slices.Equal(got, []int64{pb.Id}) {
		t.Errorf("carol with an _all grant sees panels %v", got)
	}

	// A deleted panel's history: admins only.
	if r, _ := alice.api.DeletePanelWithResponse(t.Context(), pa.Id, nil); r.StatusCode() != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.StatusCode(), r.Body)
	}
	for _, who := range []*caller{alice, bob} {
		if st, _, body := fxChangesPage(t, who, panelQ(pa.Id)); st != http.StatusNotFound {
			t.Errorf("%s reads a deleted panel's history: %d %s", who.user, st, body)
		}
		if slices.Contains(panelsOf(who), pa.Id) {
			t.Errorf("%s's unfiltered list holds the deleted panel", who.user)
		}
	}
	st, list, body := fxChangesPage(t, root, panelQ(pa.Id))
	if st != http.StatusOK || list.Total != 3 || list.Changes[0].ChangeType != client.PanelDeleted || list.Changes[0].PanelName != "Alice's" {
		t.Errorf("admin reads the deleted panel's history: %d %s", st, body)
	}
	if got := panelsOf(root); !slices.Equal(got, []int64{pa.Id, pb.Id}) {
		t.Errorf("root sees panels %v after the delete", got)
	}
	if st, _, _ := fxChangesPage(t, eve, panelQ(pa.Id)); st != http.StatusNotFound {
		t.Errorf("other tenant's admin reads the deleted panel's history: %d", st)
	}
	// Identity assertions in the query.
	if st, _, _ := fxChangesPage(t, alice, "?tenantId="+url.QueryEscape(tenant)+"&userId=alice"); st != http.StatusOK {
		t.Errorf("matching assertions: %d", st)
	}
	if st, _, _ := fxChangesPage(t, alice, "?tenantId=someone-else"); st != http.StatusForbidden {
		t.Errorf("foreign tenantId: %d, want 403", st)
	}
}

func TestChangesTotalCapped(t *testing.T) {
	if testing.Short() {
		t.Skip("inserts more than 10,000 rows")
	}
	c := newCaller(t, newTenant("chcap"), "alice", auth.RoleBuilder)
	p := fxPanel(t, c, "Busy")
	if _, err := fxDB(t).ExecContext(t.Context(), `INSERT INTO panel_changes
		(tenant_id, panel_id, panel_name, change_type, entity_type, entity_id, action, description, changed_by, changed_at)
		SELECT $1, $2, 'Busy', 'panel_updated', 'panel', $2, 'update', 'bulk', 'alice', now() - g * interval '1 second'
		FROM generate_series(1, 10050) AS g`, c.tenant, p.Id); err != nil {
		t.Fatal(err)
	}
	for _, query := range []string{"", fmt.Sprintf("?panelId=%d", p.Id), "?changeType=panel_updated&limit=500", "?offset=9990&limit=50"} {
		st, list, body := fxChangesPage(t, c, query)
		if st != http.StatusOK {
			t.Fatalf("%s: %d %s", query, st, body)
		}
		if list.Total != 10000 || !list.TotalCapped || !list.HasMore {
			t.Errorf("%s: total %d capped %v hasMore %v, want 10000 true true", query, list.Total, list.TotalCapped, list.HasMore)
		}
	}
	// A filter that matches few rows counts them exactly.
	st, list, body := fxChangesPage(t, c, "?changeType=panel_created")
	if st != http.StatusOK || list.Total != 1 || list.TotalCapped || list.HasMore || len(list.Changes) != 1 {
		t.Errorf("panel_created: %d %s", st, body)
	}
	// The default page is 100.
	if _, list, _ := fxChangesPage(t, c, ""); len(list.Changes) != 100 {
		t.Errorf("default page: %d changes", len(list.Changes))
	}
}
