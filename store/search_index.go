package store

import (
	"context"
	"sync"
	"time"
)

// searchIndexTTL is how long a look at the catalog stays true: an index created or dropped by an
// operator after the start (or a migration run by another instance) is noticed within it. Being
// out of date costs speed only: the prefilter is implied by the search wherever it is added.
const searchIndexTTL = 5 * time.Minute

// searchIndex caches whether the rows search may use migration 0013's trigram index.
type searchIndex struct {
	mu      sync.Mutex
	ok      bool
	checked time.Time
}

// searchIndexReady reports whether source_records has a valid, whole-table
// source_records_doc_trgm_idx (an operator builds it: docs/search-index.md) and whether the
// database's default collation lowers text one character at a time (libc; ICU's lower() reads
// Σ's context), which the prefilter's proof needs. A partial index does not count: the prefilter
// would cost the records it does not cover a rendering of their document each. A failed look
// answers false and is retried on the next plan.
func (s *Store) searchIndexReady(ctx context.Context) bool {
	s.trgm.mu.Lock()
	defer s.trgm.mu.Unlock()
	if !s.trgm.checked.IsZero() && time.Since(s.trgm.checked) < searchIndexTTL {
		return s.trgm.ok
	}
	var ok bool
	// datlocprovider exists from PostgreSQL 15 on; before, every database is libc ('c').
	err := s.db.QueryRowContext(ctx, `SELECT EXISTS (
			SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
			WHERE i.indrelid = to_regclass('source_records') AND c.relname = 'source_records_doc_trgm_idx'
				AND i.indisvalid AND i.indpred IS NULL)
		AND coalesce((SELECT to_jsonb(d)->>'datlocprovider' FROM pg_database AS d WHERE d.datname = current_database()), 'c') = 'c'`).Scan(&ok)
	if err != nil {
		return false
	}
	s.trgm.ok, s.trgm.checked = ok, time.Now()
	return ok
}

// SearchIndexDDL builds the search's trigram index without blocking writes (outside a
// transaction; as the tables' owner, with pg_trgm installed). docs/search-index.md says when it
// pays.
const SearchIndexDDL = `CREATE INDEX CONCURRENTLY IF NOT EXISTS source_records_doc_trgm_idx ON source_records USING gin (lower(doc::text) gin_trgm_ops)`
