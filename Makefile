# Panels: contract-first Go service. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO            ?= go
OAPI_CODEGEN  := $(GO) run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen
GOLANGCI_LINT := $(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
AIR           := $(GO) run github.com/air-verse/air@v1.67.4
BIN           := bin/panels
# Loads .env (written by `make run` on first use) into the commands that need configuration.
WITH_ENV      := set -a; [ -f .env ] && . ./.env; set +a;

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: generate
generate: ## Regenerate gen/ (server, models, embedded spec) and clients/go from openapi/openapi.yaml
	$(OAPI_CODEGEN) -config openapi/server.cfg.yaml openapi/openapi.yaml
	$(OAPI_CODEGEN) -config openapi/client.cfg.yaml openapi/openapi.yaml

.PHONY: check-generate
check-generate: ## Fail when generated code and the spec disagree
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	for pair in server:gen/server.gen.go client:clients/go/client.gen.go; do \
	  cfg=$${pair%%:*}; out=$${pair#*:}; \
	  sed "s#^output: .*#output: $$tmp/$$cfg.gen.go#" openapi/$$cfg.cfg.yaml > $$tmp/$$cfg.cfg.yaml && \
	  $(OAPI_CODEGEN) -config $$tmp/$$cfg.cfg.yaml openapi/openapi.yaml && \
	  cmp -s $$tmp/$$cfg.gen.go $$out || { echo "$$out is stale: run 'make generate' and commit the result"; exit 1; }; \
	done

.PHONY: build
build: ## Build the release binary into bin/panels
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags="-s -w" -o $(BIN) ./cmd/panels

.env:
	@echo "JWT_SECRET=$$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" > .env
	@echo "CORS_ORIGINS=http://localhost:3000" >> .env
	@echo "LOG_FORMAT=text" >> .env
	@echo "wrote .env with a random JWT_SECRET (ignored by git)"

.PHONY: run
run: .env build ## Start the service on :3001 (creates and migrates the database, prints a dev token)
	@$(WITH_ENV) exec $(BIN) serve --dev

.PHONY: dev
dev: .env ## Rebuild and restart on every change (air)
	@$(WITH_ENV) $(AIR) -c .air.toml

.PHONY: migrate-new
migrate-new: ## Create migrations/NNNN_<name>.up.sql and .down.sql (name=...)
	@[ -n "$(name)" ] || { echo "usage: make migrate-new name=add_something"; exit 1; }
	@last=$$(ls migrations/*.up.sql 2>/dev/null | sed -E 's#.*/([0-9]+)_.*#\1#' | sort -n | tail -1); \
	next=$$(printf "%04d" $$((10#$${last:-0} + 1))); \
	touch migrations/$${next}_$(name).up.sql migrations/$${next}_$(name).down.sql; \
	echo "created migrations/$${next}_$(name).{up,down}.sql"

.PHONY: migrate-up
migrate-up: build ## Apply pending migrations to DATABASE_URL
	@$(WITH_ENV) $(BIN) migrate up

.PHONY: migrate-down
migrate-down: build ## Revert the last migration of DATABASE_URL
	@$(WITH_ENV) $(BIN) migrate down

.PHONY: db-reset
db-reset: .env build ## Drop and recreate the database, migrate and seed it
	@$(WITH_ENV) $(BIN) db-reset && $(WITH_ENV) $(BIN) seed

.PHONY: lint
lint: ## Run golangci-lint (generated code excluded)
	$(GOLANGCI_LINT) run ./...

.PHONY: fmt
fmt: ## Format the Go code
	gofmt -w $$(git ls-files '*.go' | grep -v '\.gen\.go$$')

.PHONY: test
test: check-generate ## Check generated code, vet, and run every test against real PostgreSQL and Redis
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

.PHONY: test-short
test-short: ## Quick loop: skips the slow fault and scale tests
	$(GO) test -short -count=1 ./...

.PHONY: cover
cover: ## Run the tests with coverage and print the total
	$(GO) test -count=1 -coverpkg=./server/...,./store/... -coverprofile=coverage.out ./...
	$(GO) tool cover -func=coverage.out | tail -1
