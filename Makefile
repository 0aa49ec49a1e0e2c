# make test  - fetch modules and Debian test clients, run every test (race detector on)
# make build - build bin/broker and bin/loadgen
# make bench - run the in-process benchmarks (results go to BENCHMARKS.md by hand)
GO ?= go
PKGS ?= ./...

.PHONY: all build test test-deps bench fuzz vet

all: build

build:
	$(GO) build -o bin/broker ./cmd/broker
	$(GO) build -o bin/loadgen ./cmd/loadgen

test-deps:
	$(GO) mod download
	./scripts/test-deps.sh

test: test-deps
	$(GO) vet ./...
	$(GO) test -race -shuffle=on -timeout 14m $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s ./core/...

fuzz:
	./scripts/fuzz.sh 20s

vet:
	$(GO) vet ./...
