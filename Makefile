# anxin — make targets. `make test` is what CI runs (.ci/run).
GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 10s
STATICCHECK_VERSION ?= v0.8.2

.PHONY: all build test test-integration test-deps fuzz lint bench demo run clean

all: build

build:
	$(GO) build -o bin/ ./cmd/...

## test: install the real peers the tests need, then run every test (unit and integration)
test: test-deps
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

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt needed'; exit 1; }
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

## bench: every Go benchmark, 1 s each
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1s $(PKGS)

## demo: alarmd on embedded defaults + gatewayd with a simulated household kit
demo run:
	$(GO) build -o bin/anxin-demo ./cmd/anxin-demo
	exec bin/anxin-demo

clean:
	rm -rf bin
