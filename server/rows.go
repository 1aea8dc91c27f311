package server

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/oapi-codegen/nullable"
	"github.com/panels/panels/gen"
	curs "github.com/panels/panels/server/cursor"
	"github.com/panels/panels/server/problem"
	"github.com/panels/panels/store"
	"github.com/panels/panels/store/formula"
)

// GetPanelRowsCSV exports every row of a panel, or of one of its views, as CSV.
func (s *Server) GetPanelRowsCSV(ctx context.Context, req gen.GetPanelRowsCSVRequestObject) (gen.GetPanelRowsCSVResponseObject, error) {
	q := store.RowsQuery{PanelID: req.PanelId, Export: true, Now: time.Now(), Limits: s.compute.Formula}
	if req.Params.ViewId != nil {
		q.ViewID = *req.Params.ViewId
	}
	if req.Params.Search != nil {
		q.Search = *req.Params.Search
	}
	plan, err := s.store.PlanRows(ctx, actorFrom(ctx), q)
	if err != nil {
		return nil, err
	}
	return gen.GetPanelRowsCSV200TextcsvResponse{Body: rowsCSV(ctx, plan)}, nil
}

// GetPanelRows answers a page of a panel's rows, or every row as a streamed CSV export (the
// deprecated format=csv, which GetPanelRowsCSV answers under its own path).
func (s *Server) GetPanelRows(ctx context.Context, req gen.GetPanelRowsRequestObject) (gen.GetPanelRowsResponseObject, error) {
	a := actorFrom(ctx)
	q := store.RowsQuery{PanelID: req.PanelId, Now: time.Now(), Limits: s.compute.Formula, MaxBytes: s.compute.RowsPageMaxBytes}
	if req.Params.ViewId != nil {
		q.ViewID = *req.Params.ViewId
	}
	if req.Params.Search != nil {
		q.Search = *req.Params.Search
	}
	scope := a.TenantID + "/" + strconv.FormatInt(q.PanelID, 10) + "/" + strconv.FormatInt(q.ViewID, 10)
	asCSV := req.Params.Format != nil && *req.Params.Format == gen.Csv
	if !asCSV {
		q.Limit = limitOr(req.Params.Limit, defaultLimit)
		// The engine's position (store.RowCursor) validates itself and is checked again against the plan.
		after, err := curs.DecodeOptional[store.RowCursor](s.cursors, req.Params.Cursor, "rows", scope)
		if err != nil {
			return nil, err
		}
		q.After = after
	}
	plan, err := s.store.PlanRows(ctx, a, q)
	if err != nil {
		return nil, err
	}
	if asCSV {
		return gen.GetPanelRows200TextcsvResponse{Body: rowsCSV(ctx, plan)}, nil
	}
	cols := plan.Columns()
	ids := make([]string, len(cols))
	for i, c := range cols {
		ids[i] = strconv.FormatInt(c.ID, 10)
	}
	body := gen.PanelRows{Columns: make([]gen.RowsColumn, len(cols)), Rows: make([]gen.PanelRow, 0, q.Limit)}
	res, err := plan.Run(ctx, func(r store.Row) error {
		values := make(map[string]any, len(ids))
		for i, v := range r.Values {
			values[ids[i]] = v
		}
		row := gen.PanelRow{Key: r.Key, Values: values}
		if len(r.Errors) > 0 {
			row.Errors = make(map[string]string, len(r.Errors))
			for _, e := range r.Errors {
				row.Errors[ids[e.Column]] = e.Message
			}
		}
		body.Rows = append(body.Rows, row)
		return nil
	})
	if errors.Is(err, store.ErrCursorStale) {
		return nil, problem.New(http.StatusGone, "cursor-stale",
			"the rows changed since this cursor was issued (a sync replaced the records, or the panel or view changed); start again from the first page")
	}
	if errors.Is(err, store.ErrCursorInvalid) {
		return nil, problem.BadRequest("query.cursor", "not a cursor of these rows")
	}
	if err != nil {
		return nil, err
	}
	for i, c := range cols {
		body.Columns[i] = gen.RowsColumn{Id: c.ID, Name: c.Name, Type: gen.ColumnType(c.Type),
			ColumnType: gen.RowsColumnColumnType(c.ColumnType), Errors: res.Errors[i]}
	}
	resp := gen.GetPanelRows200JSONResponse{}
	body.HasMore = res.HasMore
	if res.Next != nil {
		next := s.cursors.Encode("rows", scope, res.Next)
		body.NextCursor = &next
		v := url.Values{"limit": {strconv.Itoa(q.Limit)}, "cursor": {next}}
		if q.ViewID != 0 {
			v.Set("viewId", strconv.FormatInt(q.ViewID, 10))
		}
		link := "</api/panels/" + strconv.FormatInt(q.PanelID, 10) + "/rows?" + v.Encode() + `>; rel="next"`
		resp.Headers.Link = &link
	}
	resp.Body = body
	return resp, nil
}

// rowsCSV streams every row as CSV (a header of column names, then one line per row) from one
// read-only transaction. The response closes the reader when it is done or the client goes
// away, which stops the export.
func rowsCSV(ctx context.Context, plan *store.RowsPlan) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		w := csv.NewWriter(pw)
		cols := plan.Columns()
		header := make([]string, len(cols))
		for i, c := range cols {
			header[i] = csvText(c.Name)
		}
		err := w.Write(header)
		line := make([]string, len(cols))
		if err == nil {
			_, err = plan.Run(ctx, func(r store.Row) error {
				for i, v := range r.Values {
					line[i] = csvCell(v)
				}
				return w.Write(line)
			})
		}
		if err == nil {
			w.Flush()
			err = w.Error()
		}
		_ = pw.CloseWithError(err)
	}()
	return pr
}

// csvText neutralizes text a spreadsheet would run as a formula (OWASP's CSV injection rule):
// a leading =, +, -, @, tab or carriage return gets a ' in front.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func csvCell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return csvText(x)
	case float64, bool:
		return formula.Text(x) // a number such as -5 stays a number
	case []string:
		return csvText(strings.Join(x, ", "))
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// GetPanelRowGroups counts a panel's rows, or a view's, by the value of one of the answer's columns.
func (s *Server) GetPanelRowGroups(ctx context.Context, req gen.GetPanelRowGroupsRequestObject) (gen.GetPanelRowGroupsResponseObject, error) {
	q := store.RowsQuery{PanelID: req.PanelId, Now: time.Now(), Limits: s.compute.Formula, GroupBy: req.Params.By}
	if req.Params.ViewId != nil {
		q.ViewID = *req.Params.ViewId
	}
	if req.Params.Search != nil {
		q.Search = *req.Params.Search
	}
	plan, err := s.store.PlanRows(ctx, actorFrom(ctx), q)
	if err != nil {
		return nil, err
	}
	res, err := plan.Groups(ctx)
	if err != nil {
		return nil, err
	}
	body := gen.RowGroups{Groups: make([]gen.RowGroup, len(res.Groups)), Total: res.Total, TotalCapped: res.More}
	for i, g := range res.Groups {
		v := nullable.NewNullNullable[any]()
		if g.Value != nil {
			v = nullable.NewNullableWithValue(g.Value)
		}
		body.Groups[i] = gen.RowGroup{Value: v, Count: g.Count}
	}
	return gen.GetPanelRowGroups200JSONResponse(body), nil
}
