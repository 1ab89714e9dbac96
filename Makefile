# anxin — make targets. `make test` is what CI runs (.ci/run).
GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 10s
STATICCHECK_VERSION ?= v0.8.2

.PHONY: all build dist cross test test-integration test-deps fuzz lint bench bench-ingest demo run clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -o bin/ ./cmd/...

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
DIST_LDFLAGS = -s -w -X main.version=$(VERSION)

## dist: static gatewayd for the boxes (linux arm64, arm v7, amd64) and anxinctl for the township PC
## (windows amd64) and servers (linux amd64, arm64), in dist/,
## with the systemd unit and the example config next to them (docs/install.zh-CN.md)
dist:
	rm -rf dist && mkdir -p dist
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags '$(DIST_LDFLAGS)' -o dist/gatewayd-linux-arm64 ./cmd/gatewayd
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -trimpath -ldflags '$(DIST_LDFLAGS)' -o dist/gatewayd-linux-armv7 ./cmd/gatewayd
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags '$(DIST_LDFLAGS)' -o dist/gatewayd-linux-amd64 ./cmd/gatewayd
	CGO_ENABLED=0 GOOS=windows GOARCH=amd64 $(GO) build -trimpath -ldflags '$(DIST_LDFLAGS)' -o dist/anxinctl-windows-amd64.exe ./cmd/anxinctl
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags '$(DIST_LDFLAGS)' -o dist/anxinctl-linux-amd64 ./cmd/anxinctl
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags '$(DIST_LDFLAGS)' -o dist/anxinctl-linux-arm64 ./cmd/anxinctl
	cp deploy/gatewayd.service configs/gatewayd.example.yaml dist/
	cd dist && sha256sum gatewayd-* anxinctl-* > SHA256SUMS
	@ls -l dist

## cross: the binaries that run elsewhere build there (anxinctl on the township's Windows PC,
## gatewayd on the boxes); vet for Windows catches build-tagged files (spool's file lock)
cross:
	CGO_ENABLED=0 GOOS=windows GOARCH=amd64 $(GO) build -o /dev/null ./cmd/anxinctl ./cmd/gatewayd
	CGO_ENABLED=0 GOOS=windows GOARCH=amd64 $(GO) vet ./spool ./cmd/anxinctl
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -o /dev/null ./cmd/anxinctl ./cmd/gatewayd
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -o /dev/null ./cmd/gatewayd

## test: install the real peers the tests need, then run every test (unit and integration)
test: test-deps cross
	$(GO) vet $(PKGS)
	CGO_ENABLED=0 $(GO) test -count=1 -timeout 20m $(PKGS)

## test-integration: only the tests against real peers (mosquitto, VictoriaMetrics, ptys, Prism), with the long variants
test-integration: test-deps
	ANXIN_LONG=1 $(GO) test -count=1 -timeout 60m -run 'Integration|E2E|Fault|Crash|Outage' $(PKGS)

test-deps:
	bash scripts/test-deps.sh

## fuzz: run every fuzz target for FUZZTIME
fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

lint: cross
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt needed'; exit 1; }
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

## bench: every Go benchmark, 1 s each
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1s $(PKGS)

## bench-ingest: the shared side-by-side harness (../shared/bench) for alarmd, live and drain,
## 3 interleaved rounds of 200,000 readings, binaries built into a temp dir; prints the summary.
## Needs mosquitto and victoria-metrics (installed by scripts/test-deps.sh when missing).
## Not part of `make test`. BENCH_ROUNDS, BENCH_N, BENCH_DIR override (docs/alarmd.md);
## TELEGRAF=1 builds Telegraf 1.39.3 from the module proxy and runs it in the same rounds.
## alarmd's live rounds also press call buttons (PRESSES_PER_S, default 10) and print each
## round's publish → alarm commit p50/p99/max; a press without exactly one alarm exits 1.
BENCH_ROUNDS ?= 3
BENCH_N      ?= 200000
BENCH_DIR    ?= ../shared/bench
bench-ingest:
	ROUNDS=$(BENCH_ROUNDS) N=$(BENCH_N) BENCH=$(BENCH_DIR) bash scripts/bench-ingest.sh

## demo: alarmd on embedded defaults + gatewayd with a simulated household kit
demo run:
	$(GO) build -o bin/anxin-demo ./cmd/anxin-demo
	exec bin/anxin-demo

clean:
	rm -rf bin dist
