# Tandem: one command to run, one to test. Everything installs itself.
#   make run    the whole app (PostgreSQL, FastAPI, Next.js), production mode
#   make api    PostgreSQL and FastAPI only
#   make dev    the whole app with hot reload
#   make cluster  CLUSTER_SIZE (2) web and API instances behind HAProxy, with Redis
#   make test   every test suite, as CI runs it
#   make bench  the benchmarks
#   make fuzz   Schemathesis over the API with a long budget
#   make mutation  switch each security check off; its tests must fail
#   make openapi   regenerate the API schema and the TypeScript client
#   make package   build tandem-auth's sdist and wheel into dist/
SHELL := /bin/bash
.DEFAULT_GOAL := help

export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := python3.11
# Where `pip install --user` puts uv when the machine has none.
export PATH := $(HOME)/.local/bin:$(PATH)
BACKEND := uv run --project backend --frozen
STACK := $(BACKEND) python -m tandem_stack
AUTH_PACKAGE := packages/tandem-auth

.PHONY: help run api dev db cluster deps-haproxy test lint typecheck test-backend test-frontend test-e2e openapi \
        check-openapi bench deps deps-python deps-postgres deps-redis deps-frontend deps-browser clean \
        fuzz mutation deps-bench test-bench package test-package test-wheel

help:
	@grep -E '^#   make' Makefile | sed 's/^#   //'

run: deps-python deps-postgres deps-frontend
	$(STACK) run

api: deps-python deps-postgres
	$(STACK) api

dev: deps-python deps-postgres deps-frontend
	$(STACK) dev

db: deps-python deps-postgres
	$(STACK) db

cluster: deps-python deps-postgres deps-redis deps-haproxy deps-frontend
	$(STACK) cluster

## Dependencies ---------------------------------------------------------------

deps: deps-python deps-postgres deps-redis deps-haproxy deps-frontend deps-browser deps-bench

deps-python:
	@command -v uv >/dev/null || python3 -m pip install --quiet --user "uv==0.13.9"
	@cd backend && uv sync --frozen --quiet
	@cd $(AUTH_PACKAGE) && uv sync --frozen --quiet
	@cd e2e && uv sync --frozen --quiet
	@cd bench && uv sync --frozen --quiet

# PostgreSQL's server binaries, from Debian, when the machine lacks them.
deps-postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v pg_ctl >/dev/null || \
	  { echo "Installing PostgreSQL (apt-get)"; $(SUDO) apt-get update -qq && \
	    $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# redis-server, from Debian: the shared rate limits' store (tests start their own).
deps-redis:
	@command -v redis-server >/dev/null || { echo "Installing Redis (apt-get)"; $(SUDO) apt-get update -qq && \
	  $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }

# HAProxy, from Debian: the load balancer of make cluster and its tests.
deps-haproxy:
	@command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || { echo "Installing HAProxy (apt-get)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; }

deps-frontend:
	@cd frontend && { [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund --loglevel=error; }

# wrk, the load generator of the benchmarks, from Debian.
deps-bench:
	@command -v wrk >/dev/null || { echo "Installing wrk (apt-get)"; $(SUDO) apt-get update -qq && \
	  $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

# Chromium for the browser tests, from Debian (a browser download is not possible).
deps-browser:
	@command -v chromium >/dev/null || { echo "Installing Chromium (apt-get)"; $(SUDO) apt-get update -qq && \
	  $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

## Tests ----------------------------------------------------------------------

test: deps lint typecheck check-openapi test-package test-wheel test-backend test-frontend \
      test-e2e test-bench

lint:
	cd backend && uv run --frozen ruff check . ../stack ../e2e ../bench && uv run --frozen ruff format --check . ../stack ../e2e ../bench
	cd $(AUTH_PACKAGE) && uv run --frozen ruff check . && uv run --frozen ruff format --check .

typecheck:
	cd backend && uv run --frozen mypy src ../stack/src
	cd bench && uv run --frozen mypy bench
	cd $(AUTH_PACKAGE) && uv run --frozen mypy

# tandem-auth's own tests: no app, and a throwaway PostgreSQL only for revocation.
test-package:
	cd $(AUTH_PACKAGE) && uv run --frozen pytest

# The wheel alone, as a user installs it: a fresh virtualenv with only the wheel, FastAPI
# and uvicorn (at the versions the back end locks), running the README's quickstart.
test-wheel: package
	@venv=$$(mktemp -d) && trap 'rm -rf "$$venv"' EXIT && \
	  uv export --project backend --frozen --no-hashes --no-emit-local --quiet > "$$venv/constraints.txt" && \
	  uv venv --quiet "$$venv/env" && \
	  uv pip install --quiet --python "$$venv/env/bin/python" -c "$$venv/constraints.txt" \
	    dist/tandem_auth-*.whl fastapi uvicorn && \
	  "$$venv/env/bin/python" $(AUTH_PACKAGE)/scripts/check_quickstart.py

# tandem-auth's sdist and wheel, into dist/.
package: deps-python
	rm -rf dist && uv build --quiet $(AUTH_PACKAGE) --out-dir dist

test-backend:
	cd backend && uv run --frozen pytest

test-frontend:
	cd frontend && npm run --silent lint && npm run --silent typecheck

test-e2e:
	cd e2e && uv run --frozen pytest

# The benchmark code, once, on a tiny budget, so that it cannot rot (make bench measures).
test-bench:
	cd bench && uv run --frozen python -m bench --smoke

# Schemathesis over the API with a long budget (make test runs the same tests with a short one).
fuzz: deps-python
	cd backend && FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-2000} uv run --frozen pytest tests/fuzz

# Switch each of the verifier's checks off in a copy of the back end; its tests must fail.
mutation: deps-python
	cd backend && uv run --frozen python scripts/mutation_check.py

## Generated code -------------------------------------------------------------

# FastAPI's schema, and the TypeScript client types generated from it.
openapi: deps-python
	$(BACKEND) python -m tandem.openapi > backend/openapi.json
	cd frontend && npm run --silent gen:api

check-openapi: deps-python
	$(BACKEND) python -m tandem.openapi | diff -u backend/openapi.json - || \
	  { echo "backend/openapi.json is stale: run make openapi"; exit 1; }
	cd frontend && npm run --silent check:api

bench: deps
	cd bench && uv run --frozen python -m bench

clean:
	rm -rf .data frontend/.next
