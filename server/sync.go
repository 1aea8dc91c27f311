package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/oapi-codegen/nullable"

	"github.com/panels/panels/clients/go/apitime"
	"github.com/panels/panels/gen"
	curs "github.com/panels/panels/server/cursor"
	"github.com/panels/panels/server/optable"
	"github.com/panels/panels/server/problem"
	"github.com/panels/panels/server/storable"
	"github.com/panels/panels/store"
	"github.com/panels/panels/store/dsconfig"
	"github.com/panels/panels/store/ingest"
)

// Syncs, uploads and pushes: each reads a data source's records and replaces (or, for pushes,
// amends) them through a store.SyncRun, which holds the source's sync lock throughout.

// dataFlow is what syncs need beyond the store: settings, the address guard and its HTTP client,
// and the identity of the service's own database.
type dataFlow struct {
	cfg   Config
	guard *ingest.Guard
	http  *http.Client
	own   ingest.OwnDatabase

	ownMu sync.Mutex // guards own.SystemID, read from the database on the first database sync

	// slots bounds the syncs, uploads and pushes running at once: each holds a pooled connection
	// for as long as its source takes, and the pool must keep serving everything else.
	slots chan struct{}
}

// slotted wraps what a sync accepts of its source (nil: any): once the store has allowed the
// caller and accept agrees, it takes a slot (so a refused caller never learns whether slots are
// free). release gives the slot back; call it when the sync is over, whether or not it started.
func (f *dataFlow) slotted(accept func(*store.DataSource) error) (func(*store.DataSource) error, func()) {
	var release func()
	return func(ds *store.DataSource) error {
			if accept != nil {
				if err := accept(ds); err != nil {
					return err
				}
			}
			r, err := f.acquire()
			release = r
			return err
		}, func() {
			if release != nil {
				release()
			}
		}
}

// acquire takes a sync slot, or answers 503 when every slot is busy.
func (f *dataFlow) acquire() (func(), error) {
	select {
	case f.slots <- struct{}{}:
		return func() { <-f.slots }, nil
	default:
		return nil, &problem.Problem{Status: http.StatusServiceUnavailable, Slug: "unavailable",
			Detail: "too many syncs are running on this instance; retry later", Header: http.Header{"Retry-After": {"5"}}}
	}
}

func newDataFlow(cfg Config) (*dataFlow, error) {
	guard, err := ingest.NewGuard(cfg.SyncAllowHosts, cfg.SyncAllowPrivate)
	if err != nil {
		return nil, fmt.Errorf("SYNC_ALLOW_HOSTS: %w", err)
	}
	own, err := ingest.OwnDatabaseOf(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	return &dataFlow{cfg: cfg, guard: guard, http: guard.HTTPClient(), own: own,
		slots: make(chan struct{}, max(1, cfg.DBMaxConns/2))}, nil
}

// streamedRequests prepares the streamed operations' requests: SYNC_TIMEOUT for the body to
// arrive instead of HTTP_READ_TIMEOUT, and the Content-Type on the context for handlers whose
// request objects do not carry it.
func streamedRequests(cfg Config, ops *optable.Table) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if op, ok := ops.Lookup(req.Method, c.Path()); !ok || !op.Streamed {
				return next(c)
			}
			if cfg.SyncTimeout > cfg.ReadTimeout {
				// Not every writer supports deadlines (httptest recorders): then the default stays.
				_ = http.NewResponseController(c.Response()).SetReadDeadline(time.Now().Add(cfg.SyncTimeout))
			}
			c.SetRequest(req.WithContext(context.WithValue(req.Context(), contentTypeKey, req.Header.Get(echo.HeaderContentType))))
			return next(c)
		}
	}
}

// SyncDataSource syncs a data source (the seed's path).
func (s *Server) SyncDataSource(ctx context.Context, req gen.SyncDataSourceRequestObject) (gen.SyncDataSourceResponseObject, error) {
	out, err := s.syncSource(ctx, req.DataSourceId, 0)
	if err != nil {
		return nil, err
	}
	return gen.SyncDataSource200JSONResponse(out), nil
}

// SyncPanelDataSource syncs a data source (the original service's path).
func (s *Server) SyncPanelDataSource(ctx context.Context, req gen.SyncPanelDataSourceRequestObject) (gen.SyncPanelDataSourceResponseObject, error) {
	out, err := s.syncSource(ctx, req.DataSourceId, req.PanelId)
	if err != nil {
		return nil, err
	}
	return gen.SyncPanelDataSource200JSONResponse(out), nil
}

func (s *Server) syncSource(ctx context.Context, id, panelID int64) (gen.DataSourceSync, error) {
	op := store.Operation("syncDataSource")
	if panelID != 0 {
		op = "syncPanelDataSource"
	}
	accept, release := s.flow.slotted(nil)
	defer release()
	run, err := s.store.BeginSync(ctx, actorFrom(ctx), op, id, panelID, store.TriggerSync, 0, accept)
	if err != nil {
		return gen.DataSourceSync{}, err
	}
	defer run.Close()
	run.StatementTimeout = s.flow.cfg.SyncTimeout
	// The fetch has its own deadline; recording the outcome uses the request's context, so that a
	// timed-out source is still recorded as a failed sync.
	fetchCtx, cancel := context.WithTimeout(ctx, s.flow.cfg.SyncTimeout)
	defer cancel()
	var res store.SyncResult
	switch run.Source.Type {
	case "api":
		res, err = s.flow.syncAPI(ctx, fetchCtx, run)
	case "database":
		res, err = s.flow.syncDatabase(ctx, fetchCtx, run, s.store)
	case "file":
		res, err = run.Keep(ctx, "file sources sync when a file is uploaded (POST /api/datasources/{id}/upload); records unchanged")
	default:
		res, err = run.Keep(ctx, "custom sources receive pushed records (POST /api/datasources/{id}/records); records unchanged")
	}
	if err != nil {
		return gen.DataSourceSync{}, err
	}
	return syncToAPI(res), nil
}

func (f *dataFlow) syncAPI(ctx, fetchCtx context.Context, run *store.SyncRun) (store.SyncResult, error) {
	cfg := run.Source.Config
	req := ingest.APIRequest{
		Method:      cfgString(cfg, "method"),
		RecordsPath: cfgString(cfg, "recordsPath"),
		MaxBytes:    f.cfg.SyncMaxBytes,
		Headers:     map[string]string{},
		Options:     ingest.Options{KeyField: cfgString(cfg, "keyField"), MaxRecords: f.cfg.SyncMaxRecords},
	}
	if h, ok := cfg["headers"].(map[string]any); ok {
		for k, v := range h {
			if s, ok := v.(string); ok {
				req.Headers[k] = s
			}
		}
	}
	if b, ok := cfg["body"]; ok && b != nil {
		req.Body, _ = json.Marshal(b)
	}
	req.URL = cfgString(cfg, "url")
	if req.URL == "" {
		u, err := ingest.ResolveEndpoint(f.cfg.APISourceBaseURL, cfgString(cfg, "endpoint"))
		if err != nil {
			return run.Fail(ctx, err.Error())
		}
		req.URL = u
	}
	if ms, ok := cfgNumber(cfg, "timeoutMs"); ok && ms > 0 {
		var cancel context.CancelFunc
		fetchCtx, cancel = context.WithTimeout(fetchCtx, time.Duration(ms)*time.Millisecond)
		defer cancel()
	}
	rd, body, err := ingest.FetchAPI(fetchCtx, f.http, req)
	if err != nil {
		return failedSync(ctx, run, err)
	}
	defer body.Close()
	return run.Replace(ctx, rd)
}

func (f *dataFlow) syncDatabase(ctx, fetchCtx context.Context, run *store.SyncRun, st *store.Store) (store.SyncResult, error) {
	cfg := run.Source.Config
	own, err := f.ownDatabase(ctx, st)
	if err != nil {
		return store.SyncResult{}, err
	}
	rd, closer, err := ingest.QueryDatabase(fetchCtx, f.guard, ingest.DatabaseQuery{
		ConnString: cfgString(cfg, "connectionString"),
		Query:      cfgString(cfg, "query"),
		// A little under the sync's deadline, so that PostgreSQL's own cancellation explains itself.
		StatementTimeout: f.cfg.SyncTimeout * 9 / 10,
		Own:              own,
		Options:          ingest.Options{KeyField: cfgString(cfg, "keyField"), MaxRecords: f.cfg.SyncMaxRecords},
	})
	if err != nil {
		return failedSync(ctx, run, err)
	}
	defer closer.Close()
	return run.Replace(ctx, rd)
}

// ownDatabase identifies the service's database, reading its cluster's identifier once.
func (f *dataFlow) ownDatabase(ctx context.Context, st *store.Store) (ingest.OwnDatabase, error) {
	f.ownMu.Lock()
	defer f.ownMu.Unlock()
	if f.own.SystemID == "" {
		id, err := st.SystemIdentifier(ctx)
		if err != nil {
			return ingest.OwnDatabase{}, err
		}
		f.own.SystemID = id
	}
	return f.own, nil
}

// failedSync records a source's failure to answer; any other error is the service's own.
func failedSync(ctx context.Context, run *store.SyncRun, err error) (store.SyncResult, error) {
	var se *ingest.Error
	if errors.As(err, &se) {
		return run.Fail(ctx, se.Msg)
	}
	return store.SyncResult{}, err
}

// UploadDataSourceFile replaces a file source's records with an uploaded file, streamed.
func (s *Server) UploadDataSourceFile(ctx context.Context, req gen.UploadDataSourceFileRequestObject) (gen.UploadDataSourceFileResponseObject, error) {
	fileOnly := func(ds *store.DataSource) error {
		if ds.Type != "file" {
			return &store.InvalidError{Message: fmt.Sprintf("data source %d is of type %s; only file sources take uploads", ds.ID, ds.Type),
				Problems: []store.Problem{{Field: "dataSourceId", Reason: "not a file data source"}}}
		}
		return nil
	}
	format, err := uploadFormat(req.ContentType)
	if err != nil {
		return nil, err
	}
	accept, release := s.flow.slotted(fileOnly)
	defer release()
	run, err := s.store.BeginSync(ctx, actorFrom(ctx), "uploadDataSourceFile", req.DataSourceId, 0, store.TriggerUpload, 0, accept)
	if err != nil {
		return nil, err
	}
	defer run.Close()
	run.StatementTimeout = s.flow.cfg.SyncTimeout
	cfg := run.Source.Config
	if format == "" {
		format = cfgString(cfg, "format")
	}
	opts := ingest.Options{KeyField: cfgString(cfg, "keyField"), MaxRecords: s.flow.cfg.SyncMaxRecords}
	var rd ingest.Reader
	switch format {
	case "csv":
		delim, _ := utf8.DecodeRuneInString(cfgString(cfg, "delimiter"))
		if delim == utf8.RuneError {
			delim = 0
		}
		rd, err = ingest.CSV(req.Body, delim, opts)
	case "ndjson":
		rd = ingest.NDJSON(req.Body, opts)
	default:
		rd, err = ingest.JSONArray(req.Body, "", opts)
	}
	if err != nil {
		return nil, err
	}
	res, err := run.Replace(ctx, storable.Records(rd))
	if err != nil {
		return nil, err
	}
	return gen.UploadDataSourceFile200JSONResponse(syncToAPI(res)), nil
}

// uploadFormat reads the file format from the content type ("" for application/octet-stream:
// the source's configured format).
func uploadFormat(contentType string) (string, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil && contentType != "" {
		return "", unsupportedUpload()
	}
	switch mt {
	case "text/csv":
		return "csv", nil
	case "application/x-ndjson", "application/ndjson", "application/jsonl":
		return "ndjson", nil
	case "application/json":
		return "json", nil
	case "application/octet-stream", "":
		return "", nil
	}
	return "", unsupportedUpload()
}

func unsupportedUpload() error {
	return problem.New(http.StatusUnsupportedMediaType, "unsupported-media-type",
		"upload the file as text/csv, application/json, application/x-ndjson (or application/ndjson, application/jsonl) "+
			"or application/octet-stream (read as the source's format)")
}

// PushDataSourceRecords applies pushed upserts and deletions to a custom source's records.
func (s *Server) PushDataSourceRecords(ctx context.Context, req gen.PushDataSourceRecordsRequestObject) (gen.PushDataSourceRecordsResponseObject, error) {
	customOnly := func(ds *store.DataSource) error {
		if ds.Type != "custom" {
			return &store.InvalidError{Message: fmt.Sprintf("data source %d is of type %s; only custom sources take pushed records", ds.ID, ds.Type),
				Problems: []store.Problem{{Field: "dataSourceId", Reason: "not a custom data source"}}}
		}
		return nil
	}
	if mt, _, err := mime.ParseMediaType(contentTypeOf(ctx)); err != nil || (mt != "application/x-ndjson" && mt != "application/ndjson") {
		return nil, problem.New(http.StatusUnsupportedMediaType, "unsupported-media-type", "push records as application/x-ndjson, one operation per line")
	}
	accept, release := s.flow.slotted(customOnly)
	defer release()
	run, err := s.store.BeginSync(ctx, actorFrom(ctx), "pushDataSourceRecords", req.DataSourceId, 0, store.TriggerPush, 5*time.Second, accept)
	if err != nil {
		return nil, err
	}
	defer run.Close()
	run.StatementTimeout = s.flow.cfg.SyncTimeout
	res, err := run.Push(ctx, storable.Ops(ingest.Ops(req.Body, cfgString(run.Source.Config, "keyField"), s.flow.cfg.SyncMaxRecords)))
	if err != nil {
		return nil, err
	}
	return gen.PushDataSourceRecords200JSONResponse(syncToAPI(res)), nil
}

// ListDataSourceSyncs lists a data source's sync history, newest first.
func (s *Server) ListDataSourceSyncs(ctx context.Context, req gen.ListDataSourceSyncsRequestObject) (gen.ListDataSourceSyncsResponseObject, error) {
	a := actorFrom(ctx)
	scope := a.TenantID + "/" + strconv.FormatInt(req.DataSourceId, 10)
	after, err := curs.DecodeOptional[curs.Key](s.cursors, req.Params.Cursor, "syncs", scope)
	if err != nil {
		return nil, err
	}
	f := store.SyncFilter{Limit: limitOr(req.Params.Limit, defaultLimit), Offset: limitOr(req.Params.Offset, 0)}
	if after != nil {
		f.AfterID = after.ID
	}
	page, err := s.store.ListSyncs(ctx, a, req.DataSourceId, f)
	if err != nil {
		return nil, err
	}
	out := gen.ListDataSourceSyncs200JSONResponse{Syncs: make([]gen.SyncRun, len(page.Syncs)), Total: page.Total,
		TotalCapped: page.TotalCapped, HasMore: page.HasMore}
	for i, r := range page.Syncs {
		out.Syncs[i] = gen.SyncRun{Id: r.ID, DataSourceId: r.DataSourceID, Trigger: gen.SyncRunTrigger(r.Trigger), SyncStatus: gen.SyncStatus(r.Status),
			Message: r.Message, RecordsProcessed: r.RecordsProcessed, RecordsDeleted: r.RecordsDeleted, StartedBy: r.StartedBy,
			StartedAt: apiTime(r.StartedAt), FinishedAt: apiTime(r.FinishedAt), DurationMs: r.DurationMs}
	}
	if page.HasMore {
		next := s.cursors.Encode("syncs", scope, &curs.Key{ID: page.Syncs[len(page.Syncs)-1].ID})
		out.NextCursor = &next
	}
	return out, nil
}

func syncToAPI(res store.SyncResult) gen.DataSourceSync {
	ds, r := res.Source, res.Record
	out := gen.DataSourceSync{
		Id:               ds.ID,
		Type:             gen.DataSourceType(ds.Type),
		Config:           gen.DataSourceConfig(dsconfig.Masked(ds.Config)),
		LastSync:         nullable.NewNullNullable[apitime.Time](),
		SyncStatus:       gen.SyncStatus(r.Status),
		Message:          r.Message,
		RecordsProcessed: r.RecordsProcessed,
		DurationMs:       r.DurationMs,
		SyncId:           &r.ID,
	}
	if ds.LastSync != nil {
		out.LastSync = nullable.NewNullableWithValue(apiTime(*ds.LastSync))
	}
	if r.Trigger == store.TriggerPush {
		out.RecordsDeleted = &r.RecordsDeleted
	}
	return out
}

func cfgString(cfg map[string]any, key string) string {
	s, _ := cfg[key].(string)
	return strings.TrimSpace(s)
}

func cfgNumber(cfg map[string]any, key string) (float64, bool) {
	switch v := cfg[key].(type) {
	case float64:
		return v, true
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	}
	return 0, false
}

// contentTypeKey carries the Content-Type of streamed requests to handlers whose request objects
// lack it.
type contentTypeKeyT struct{}

var contentTypeKey contentTypeKeyT

func contentTypeOf(ctx context.Context) string {
	s, _ := ctx.Value(contentTypeKey).(string)
	return s
}
