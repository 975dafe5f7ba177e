# zkd build and test entry points. `make test` is the project's test command;
# CI runs it through .ci/run on a fresh Debian machine.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build

# Go may be installed at /usr/local/go without being on PATH (as in CI).
GO ?= $(or $(shell command -v go 2>/dev/null),/usr/local/go/bin/go)
export PATH := $(patsubst %/,%,$(dir $(GO))):$(shell $(GO) env GOPATH 2>/dev/null)/bin:$(PATH)

# Debian packages the tests need. Add new ones here (e.g. prometheus,
# chromium); `make deps` installs whatever is missing.
#   zookeeper, zookeeper-bin   real Apache ZooKeeper 3.8 server, zkCli.sh, cli_mt
#   python3-kazoo              kazoo client for /usr/bin/python3
#   libslf4j-java              slf4j-simple.jar: server logging (server/testpeer)
#   libservlet-api-java        servlet-api.jar: the Apache admin server
#   gcc, libc6-dev             cgo, which `go test -race` needs
#   prometheus                 promtool: `promtool check metrics` on a scrape (metrics)
#   chromium                   headless browser the console's chromedp tests drive (web/console)
#   iptables                   network partitions between ensemble nodes (server/ensembletest)
DEB_PACKAGES := zookeeper zookeeper-bin python3-kazoo libslf4j-java libservlet-api-java gcc libc6-dev prometheus chromium iptables

# Fuzzing: time per target for `make fuzz`, and for `make fuzz-short` (run by
# `make test`) the time per target and a cap on the total across targets.
FUZZTIME ?= 60s
FUZZTIME_SHORT ?= 10s
FUZZ_SHORT_BUDGET ?= 300s

.PHONY: build run deps test fmt-check vet unit fuzz-short fuzz bench images clean

build:
	$(GO) build -o bin/zkd ./cmd/zkd

run: build
	./bin/zkd server

deps:
	scripts/deps.sh $(DEB_PACKAGES)

test: deps
	$(MAKE) --no-print-directory fmt-check
	$(MAKE) --no-print-directory vet
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory fuzz-short

fmt-check:
	@unformatted=$$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -print0 | xargs -0 -r gofmt -l); \
	if [[ -n "$$unformatted" ]]; then echo "gofmt -l lists files needing gofmt -w:"; echo "$$unformatted"; exit 1; fi

vet:
	$(GO) vet ./...

unit:
	GO=$(GO) scripts/unit.sh ./...

fuzz-short:
	GO=$(GO) scripts/fuzz.sh $(FUZZTIME_SHORT) $(FUZZ_SHORT_BUDGET)

fuzz:
	GO=$(GO) scripts/fuzz.sh $(FUZZTIME)

# Micro-benchmarks, then the same load against a 3-node zkd ensemble and a
# 3-node Apache ZooKeeper 3.8 ensemble, printed side by side (ops/s,
# p50/p99, resident memory with 100 000 znodes). BENCH_DURATION is the
# measured time per workload.
BENCH_DURATION ?= 15s
bench:
	$(GO) test -run='^$$' -bench=. ./...
	ZKD_BENCH_ENSEMBLE=1 ZKD_BENCH_DURATION=$(BENCH_DURATION) $(GO) test -count=1 -timeout 30m \
		-run='^TestBenchmarkEnsembles$$' -v ./server/ensembletest/ | grep -v '^=== \|^--- \|^PASS\|^ok '

# The images docker-compose.yml runs (zkd/zkd:local, zkd/prometheus:local),
# built without a registry; see "docker compose" in README.md.
images:
	GO=$(GO) docker/build-images.sh

clean:
	rm -rf bin
