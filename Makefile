# Panels: contract-first Go service. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO            ?= go
OAPI_CODEGEN  := $(GO) run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen
GOLANGCI_LINT := $(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
AIR           := $(GO) run github.com/air-verse/air@v1.67.4
OASDIFF       := $(GO) run github.com/oasdiff/oasdiff@v1.37.0
BIN           := bin/panels
# The TypeScript client's generator; its node_modules are installed from the lockfile when missing.
TS_DEPS       := clients/typescript/node_modules/.package-lock.json
# Run from its own folder, where its node_modules are.
ts_generate    = (cd clients/typescript && node_modules/.bin/openapi-typescript ../../openapi/openapi.yaml --alphabetize -o $(1))
# Node tools run on the spec and the API (Redocly CLI, Bruno CLI), from tools/node/package.json.
NODE_TOOLS    := tools/node/node_modules/.package-lock.json
# Loads .env (written by `make run` on first use) into the commands that need configuration.
WITH_ENV      := set -a; [ -f .env ] && . ./.env; set +a;

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: generate
generate: $(TS_DEPS) ## Regenerate gen/ (server and models, embedded spec), clients/go and clients/typescript/src/schema.ts
	$(OAPI_CODEGEN) -config openapi/server.cfg.yaml openapi/openapi.yaml
	$(OAPI_CODEGEN) -config openapi/spec.cfg.yaml openapi/openapi.yaml
	$(OAPI_CODEGEN) -config openapi/client.cfg.yaml openapi/openapi.yaml
	$(call ts_generate,src/schema.ts)

.PHONY: check-generate
check-generate: $(TS_DEPS) ## Fail when generated code and the spec disagree
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	for pair in server:gen/server.gen.go spec:gen/spec.gen.go client:clients/go/client.gen.go; do \
	  cfg=$${pair%%:*}; out=$${pair#*:}; \
	  sed "s#^output: .*#output: $$tmp/$$cfg.gen.go#" openapi/$$cfg.cfg.yaml > $$tmp/$$cfg.cfg.yaml && \
	  $(OAPI_CODEGEN) -config $$tmp/$$cfg.cfg.yaml openapi/openapi.yaml && \
	  cmp -s $$tmp/$$cfg.gen.go $$out || { echo "$$out is stale: run 'make generate' and commit the result"; exit 1; }; \
	done; \
	$(call ts_generate,$$tmp/schema.ts) >/dev/null && cmp -s $$tmp/schema.ts clients/typescript/src/schema.ts || \
	  { echo "clients/typescript/src/schema.ts is stale: run 'make generate' and commit the result"; exit 1; }
	@$(GO) run ./server/config/cmd/configdoc -check README.md

.PHONY: config-docs
config-docs: ## Regenerate README.md's configuration table from server/config/settings.go
	$(GO) run ./server/config/cmd/configdoc README.md

.PHONY: check-tidy
check-tidy: ## Fail when go.mod or go.sum is not what `go mod tidy` would write
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run 'go mod tidy' and commit the result"; exit 1; }

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

.PHONY: check-container
check-container: $(NODE_TOOLS) ## Check compose.yaml (docker-compose config) and the Dockerfile (dockerfile-utils lint) without a Docker engine
	@command -v docker-compose >/dev/null || { echo "make check-container needs docker-compose (Debian/Ubuntu: apt-get install docker-compose)"; exit 1; }
	@# With nothing set, as a newcomer runs it: the dev-only defaults must make it complete.
	env -u JWT_SECRET docker-compose -f compose.yaml config -q
	tools/node/node_modules/.bin/dockerfile-utils lint Dockerfile

.PHONY: lint
lint: ## Run golangci-lint (generated code excluded)
	$(GOLANGCI_LINT) run ./...

.PHONY: fmt
fmt: ## Format the Go code
	gofmt -w $$(git ls-files '*.go' | grep -v '\.gen\.go$$')

.PHONY: test
test: check-generate lint-spec check-breaking ## Check generated code and the spec, vet, run every Go test and the TypeScript client's
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 25m ./...
	$(MAKE) --no-print-directory test-ts

.PHONY: test-short
test-short: ## Quick loop: skips the slow fault and scale tests
	$(GO) test -short -count=1 ./...

.PHONY: test-faults
test-faults: ## Run the fault tests (SIGTERM under load, database restarts, duplicate creates) and print their figures
	$(GO) test -count=1 -v -run 'TestSIGTERMUnderLoad|TestDatabaseRestartUnderWriteLoad' ./cmd/panels | grep -E '^(=== RUN|--- |\s+faults_test.go|ok|FAIL)'
	$(GO) test -count=1 -v -run 'TestIdempotencyConcurrentDuplicates|TestConcurrentUpdates' ./server | grep -E '^(--- |\s+(idempotency|conditional)_test.go|ok|FAIL)'

.PHONY: bench
bench: ## Benchmark the service against bare baselines, sync/rows against hand-written SQL (also at 1,000,000 records), webhooks and the event stream (needs wrk)
	@command -v wrk >/dev/null || { echo "make bench needs wrk on PATH (Debian/Ubuntu: apt-get install wrk; macOS: brew install wrk)"; exit 1; }
	$(GO) run ./tools/bench/cmd/bench
	$(GO) run ./tools/bench/dataflow -reps 5 -o tools/bench/dataflow-results.md
	$(GO) run ./tools/bench/scale -o tools/bench/scale-results.md
	$(GO) run ./tools/bench/webhooks -o tools/bench/webhooks-results.md
	$(GO) run ./tools/bench/events -o tools/bench/events-results.md
	$(GO) run ./tools/bench/rows -o tools/bench/rows-results.md

.PHONY: cover
cover: ## Run the tests with coverage and print the total
	$(GO) test -count=1 -coverpkg=./server/...,./store/... -coverprofile=coverage.out ./...
	$(GO) tool cover -func=coverage.out | tail -1

$(TS_DEPS): clients/typescript/package-lock.json
	cd clients/typescript && npm ci --no-audit --no-fund

$(NODE_TOOLS): tools/node/package-lock.json
	cd tools/node && npm ci --no-audit --no-fund

.PHONY: lint-spec
lint-spec: $(NODE_TOOLS) ## Lint openapi/openapi.yaml with Redocly (recommended) and Spectral (spectral:oas), stock rulesets: zero errors and zero warnings
	@# Redocly exits 0 on warnings; the goal is none, so a warning fails here too.
	@out=$$(tools/node/node_modules/.bin/redocly lint --config tools/node/redocly.yaml openapi/openapi.yaml --max-problems 200 2>&1) && \
	  ! grep -q 'You have [0-9]* warning' <<<"$$out" || { echo "$$out"; echo "lint-spec: Redocly reports errors or warnings"; exit 1; }; \
	  grep -E 'Your API description|explicitly ignored' <<<"$$out"
	tools/node/node_modules/.bin/spectral lint --ruleset tools/node/.spectral.yaml --fail-severity warn openapi/openapi.yaml

.PHONY: check-breaking
check-breaking: ## Fail when openapi/openapi.yaml breaks the released contract openapi/released/v1.yaml
	$(OASDIFF) breaking --fail-on ERR --err-ignore openapi/oasdiff-ignore.txt openapi/released/v1.yaml openapi/openapi.yaml

.PHONY: test-ts
test-ts: build $(TS_DEPS) ## Build and test the TypeScript client against a live server (fresh database, minted token)
	tools/scripts/with-live-server sh -c 'cd clients/typescript && npm test'

.PHONY: test-bruno
test-bruno: build $(NODE_TOOLS) ## Run the Bruno collection in tools/node/bruno/ against a live server
	tools/scripts/with-live-server sh -c 'cd tools/node/bruno && ../node_modules/.bin/bru run --sandbox developer --env local --env-var "baseUrl=$$PANELS_URL" --env-var "token=$$PANELS_TOKEN" --env-var "email=$$PANELS_EMAIL"'

# The second TypeScript generator's client (clients/hey-api), generated from the spec on each run.
HEY_API_DEPS  := clients/hey-api/node_modules/.package-lock.json

$(HEY_API_DEPS): clients/hey-api/package-lock.json
	cd clients/hey-api && npm ci --no-audit --no-fund

.PHONY: test-hey-api
test-hey-api: build $(HEY_API_DEPS) ## Generate a client with @hey-api/openapi-ts, type-check it, and make a create, an upload and a CSV export with it against a live server
	tools/scripts/with-live-server sh -c 'cd clients/hey-api && npm test'

.PHONY: test-prism
test-prism: build $(NODE_TOOLS) $(TS_DEPS) ## Run the Bruno collection and the TypeScript client's tests through Prism's validation proxy: anything it flags fails
	tools/scripts/with-live-server tools/scripts/with-prism-proxy sh -c 'cd tools/node/bruno && ../node_modules/.bin/bru run --sandbox developer --env local --env-var "baseUrl=$$PANELS_URL" --env-var "token=$$PANELS_TOKEN" --env-var "email=$$PANELS_EMAIL"'
	tools/scripts/with-live-server tools/scripts/with-prism-proxy sh -c 'cd clients/typescript && npm test'
