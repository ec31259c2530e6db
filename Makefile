# Two commands set everything up: `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# The console and the GraphQL IDE (web/): npm packages from the lock, then a Vite build
# into web/dist/ (git-ignored), which the API serves.
WEB_MODULES := web/node_modules/.installed-stamp
WEB_BUILT   := web/dist/.built-stamp
WEB_SOURCES := web/vite.config.js web/index.html web/graphiql.html $(shell find web/src -type f 2>/dev/null)

# The test stack has its own ports and data directory: tests never touch `make run` data.
TEST_ENV := QUANZI_ENV=test \
	QUANZI_STACK_DIR=.quanzi-test \
	QUANZI_NEO4J_URI=neo4j://127.0.0.1:17687 \
	QUANZI_REDIS_URL=redis://127.0.0.1:16379/0 \
	QUANZI_NEO4J_HEAP=1g

# The same suite's Redis-dependent tests run a second time on a local Redis Cluster (3
# masters + 3 replicas on 16479-16484), sharing the test stack's Neo4j and stack dir.
CLUSTER_ENV := QUANZI_ENV=test \
	QUANZI_STACK_DIR=.quanzi-test \
	QUANZI_NEO4J_URI=neo4j://127.0.0.1:17687 \
	QUANZI_REDIS_URL=redis://127.0.0.1:16479/0 \
	QUANZI_REDIS_CLUSTER=true \
	QUANZI_NEO4J_HEAP=1g
CLUSTER_TESTS := tests/test_feeds.py tests/test_queue.py tests/test_ratelimit.py \
	tests/test_suggestions.py tests/test_live_limits.py tests/test_notifications.py \
	tests/test_feeds_reliability.py tests/test_persisted_queries.py tests/test_scale_out.py \
	tests/test_redis_client.py tests/test_loadtest.py

.PHONY: help install run test test-cluster fuzz stack-down test-stack-down lint bench chromium screenshots load load-stack-down

# The load test's own stack (data directory and ports), apart from `make run` and tests:
# one Redis, and a Redis Cluster (3 masters + 3 replicas on LOAD_CLUSTER_PORT and the five
# after it, cluster bus ports 10000 above) sharing its Neo4j.
LOAD_NEO4J_PORT   ?= 37787
LOAD_REDIS_PORT   ?= 38008
LOAD_CLUSTER_PORT ?= 38020
LOAD_API_PORT     ?= 38002
LOAD_ENV := QUANZI_ENV=test \
	QUANZI_STACK_DIR=.quanzi-load \
	QUANZI_NEO4J_URI=neo4j://127.0.0.1:$(LOAD_NEO4J_PORT) \
	QUANZI_REDIS_URL=redis://127.0.0.1:$(LOAD_REDIS_PORT)/0 \
	QUANZI_NEO4J_HEAP=1g
LOAD_CLUSTER_URL := redis://127.0.0.1:$(LOAD_CLUSTER_PORT)/0
LOAD_CLUSTER_ENV := QUANZI_ENV=test \
	QUANZI_STACK_DIR=.quanzi-load \
	QUANZI_NEO4J_URI=neo4j://127.0.0.1:$(LOAD_NEO4J_PORT) \
	QUANZI_REDIS_URL=$(LOAD_CLUSTER_URL) \
	QUANZI_REDIS_CLUSTER=true \
	QUANZI_NEO4J_HEAP=1g
# Bounds of each run (seconds, requests), the seconds of each unmeasured warm-up run
# before it (they repeat until two agree on req/s), and its size; the table goes to
# LOAD_OUT too.
LOAD_SECONDS ?= 60
LOAD_WARMUP ?= 15
LOAD_ITERATIONS ?= 20000
LOAD_USERS ?= 3000
LOAD_CONCURRENCY ?= 50
LOAD_OUT ?= bench/results/load.md


help:
	@echo "make run    - install, start Neo4j + Redis, migrate, load demo data, serve API + worker"
	@echo "make test   - install, start the separate test stack, run the whole suite, then"
	@echo "              its Redis tests again on a local Redis Cluster (make test-cluster)"
	@echo "make fuzz   - a long schemathesis run against the real server (FUZZ_EXAMPLES=200)"
	@echo "make screenshots - refresh the README's console screenshots in docs/screenshots"
	@echo "make load   - locust load test (own stack): 1 and 2 API processes, on one Redis and"
	@echo "              on a local Redis Cluster, table to LOAD_OUT"
	@echo "make install / lint / stack-down / test-stack-down / load-stack-down"

install: $(STAMP) $(WEB_BUILT) chromium

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

$(WEB_MODULES): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch $@

$(WEB_BUILT): $(WEB_MODULES) $(WEB_SOURCES)
	cd web && npm run build
	@touch $@

# The browser tests drive Debian's chromium (Playwright's own browsers cannot be fetched),
# with a Chinese font so the Chinese pages' screenshots show text.
BROWSER_PACKAGES := chromium fonts-wqy-microhei
chromium:
	@if ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -qi wqy; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages $(BROWSER_PACKAGES)"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(BROWSER_PACKAGES) \
	      || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(BROWSER_PACKAGES); }; \
	  else \
	    echo "chromium or a Chinese font is missing: install the Debian packages $(BROWSER_PACKAGES)"; \
	  fi; \
	fi

run: install
	$(BIN)/quanzi stack up
	$(BIN)/quanzi migrate
	$(BIN)/quanzi demo
	$(BIN)/quanzi dev

test: install
	$(TEST_ENV) $(BIN)/quanzi stack up
	$(TEST_ENV) $(BIN)/quanzi migrate
	$(TEST_ENV) $(BIN)/pytest -q
	$(MAKE) --no-print-directory test-cluster

test-cluster: install
	$(CLUSTER_ENV) $(BIN)/quanzi stack up
	$(CLUSTER_ENV) $(BIN)/quanzi migrate
	$(CLUSTER_ENV) $(BIN)/pytest -q $(CLUSTER_TESTS)

# Refresh the README's console screenshots (the tests write them to build/ otherwise).
screenshots: install
	$(TEST_ENV) $(BIN)/quanzi stack up
	$(TEST_ENV) $(BIN)/quanzi migrate
	$(TEST_ENV) QUANZI_SCREENSHOTS_DIR=docs/screenshots $(BIN)/pytest -q tests/test_console.py

# A long fuzzing run (make test runs a short one): every operation, as a member and as
# the platform, FUZZ_EXAMPLES generated requests each.
FUZZ_EXAMPLES ?= 200
fuzz: install
	$(TEST_ENV) $(BIN)/quanzi stack up
	$(TEST_ENV) $(BIN)/quanzi migrate
	$(TEST_ENV) QUANZI_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) QUANZI_FUZZ_ROLES=member,admin \
		$(BIN)/pytest -q tests/test_fuzz.py

load: install
	$(LOAD_ENV) $(BIN)/quanzi stack up
	$(LOAD_CLUSTER_ENV) $(BIN)/quanzi stack up
	$(LOAD_ENV) $(BIN)/quanzi migrate
	@mkdir -p $(dir $(LOAD_OUT))
	$(LOAD_ENV) $(BIN)/python -m bench.loadtest --users $(LOAD_USERS) \
		--locust-users $(LOAD_CONCURRENCY) --run-time $(LOAD_SECONDS) --warmup $(LOAD_WARMUP) \
		--iterations $(LOAD_ITERATIONS) --port $(LOAD_API_PORT) --out $(LOAD_OUT) \
		--cluster-redis-url $(LOAD_CLUSTER_URL)

load-stack-down:
	$(LOAD_CLUSTER_ENV) $(BIN)/quanzi stack down
	$(LOAD_ENV) $(BIN)/quanzi stack down

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

stack-down:
	$(BIN)/quanzi stack down

test-stack-down:
	$(CLUSTER_ENV) $(BIN)/quanzi stack down
	$(TEST_ENV) $(BIN)/quanzi stack down
