# The two commands a newcomer needs: `make run` and `make test`.
GO ?= go

.PHONY: build run test vet fmt migrate fuzz clean

build: ## compile every binary into bin/
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/ ./cmd/...

run: ## prepare PostgreSQL, migrate, start the service with a dev token
	scripts/run_dev.sh

test: ## prepare the services and run the whole suite
	scripts/test.sh

vet:
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

migrate: ## apply the schema migrations to DATABASE_URL
	scripts/bootstrap_db.sh --migrate

fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	$(GO) test ./internal/httpapi -run '^$$' -fuzz FuzzDecodeBody -fuzztime $${FUZZTIME:-30s}
	$(GO) test ./internal/auth -run '^$$' -fuzz FuzzVerify -fuzztime $${FUZZTIME:-30s}

clean:
	rm -rf bin/

.PHONY: helm deploy-check
helm: ## build the helm CLI once into the shared tools cache, linked as bin/helm (Go module proxy, no download)
	scripts/install_helm.sh

deploy-check: helm ## lint and render the Helm chart, validate compose, match the Dockerfile to cmd/
	$(GO) test -count=1 ./deploy/...

.PHONY: load resiliency bench-ceiling bench-grown
load: ## load suite: fresh DB, API and relay, seed, smoke/baseline/hot_merchant/spike/short soak, thresholds, invariants
	scripts/run_load_suite.sh

resiliency: ## fault suite: API-DB link reset and blackhole, API SIGKILL, hard PostgreSQL stop (disrupts the local server)
	scripts/run_resiliency_suite.sh

bench-ceiling: ## pgbench TPC-B-like, then baseline and hot_merchant at 1,500 transfers/s with the relay: latencies, CPU per transfer
	scripts/bench_ceiling.sh

bench-grown: ## fresh vs grown to 10M journal entries (walletctl seed --entries): baseline, reads, audits, sizes; BENCH_GROWN_SOAK=1h adds a soak
	scripts/bench_grown.sh
