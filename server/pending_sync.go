package server

// Operations of the contract that later work implements. Each answers 501 problem+json, as the
// spec documents, until then.

import (
	"context"

	"github.com/panels/panels/gen"
)

func (s *Server) SyncDataSource(context.Context, gen.SyncDataSourceRequestObject) (gen.SyncDataSourceResponseObject, error) {
	return nil, notImplemented("syncDataSource")
}

func (s *Server) SyncPanelDataSource(context.Context, gen.SyncPanelDataSourceRequestObject) (gen.SyncPanelDataSourceResponseObject, error) {
	return nil, notImplemented("syncPanelDataSource")
}
