# One entry point for people and CI. Everything the suite needs is installed here, into ignored
# folders of the clone (.venv, node_modules, .cache) or the user's caches.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
LINT_PATHS := $(wildcard operator tests bench tools)
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/node_modules/.bin:$(CURDIR)/.cache/bin:$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export npm_config_update_notifier := false
export npm_config_fund := false
export npm_config_audit := false

.PHONY: help constraints debs policy-engine images mirror deps test test-fast lint typecheck crds crds-check demo bench controlplane clean

help:
	@echo "make test      set everything up, run lint, type checks and the whole test suite"
	@echo "make demo      run the operator against a local Kubernetes API and the example servers"
	@echo "make lint      ruff, import-linter, mypy --strict"
	@echo "make crds      regenerate crds/ and docs/reference/fields.md from the pydantic models"
	@echo "make images    build the runtime and operator images (OCI archives in .cache/images)"
	@echo "make bench     run the benchmarks in bench/"
	@echo "make controlplane  build and start the local Kubernetes control plane"

# constraints.txt pins every Python package the suite installs (`make constraints` refreshes it).
$(VENV)/.stamp: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade 'pip==26.3'
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $@

constraints:
	$(BIN)/pip install -q --upgrade -e '.[dev]'
	$(BIN)/pip freeze --exclude-editable | grep -v '^mcp-operator' > constraints.txt

node_modules/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

.cache/venvs/sdk2/.stamp:
	test -x .cache/venvs/sdk2/bin/python || $(PYTHON) -m venv .cache/venvs/sdk2
	.cache/venvs/sdk2/bin/pip install -q mcp==2.3.0
	touch $@

.cache/bin/kubectl: $(VENV)/.stamp
	$(PY) tools/kubebins.py .cache/bin

# The real CNCF distribution registry, for the OCI resolver's tests (needs Go; cached like any Go build).
.cache/bin/registry:
	if command -v go >/dev/null; then GOBIN=$(CURDIR)/.cache/bin go install github.com/distribution/distribution/v3/cmd/registry@v3.1.2; \
	else echo "Go is not installed: the OCI tests use their fake registry only"; fi

# Real MCP servers (server-everything, mcp-server-time) and their dependencies, pinned in
# tools/mirror/ and fetched once: tests and the demo serve them from local registries.
.cache/mirror/.stamp: tools/mirror.py tools/mirror/package-lock.json tools/mirror/pypi.txt $(VENV)/.stamp
	$(PY) tools/mirror.py
	touch $@

mirror: .cache/mirror/.stamp

deps: $(VENV)/.stamp node_modules/.stamp .cache/bin/kubectl .cache/venvs/sdk2/.stamp .cache/bin/registry debs mirror policy-engine

# The local node's NetworkPolicy engine: kube-router, built from the Go module version that
# tests/node/kube-router/go.mod pins into .cache/bin (skipped when its stamp matches; needs Go).
policy-engine:
	$(PYTHON) tests/node/netpol.py

# Pinned Debian packages (tools/debs.txt): mmdebstrap for the images, containerd & co for the node.
debs:
	$(PYTHON) tools/debs.py

# The runtime and operator images as OCI archives in .cache/images (tools/images.py; needs root
# for mmdebstrap). Rebuilt only when their inputs change.
images: deps
	$(PY) tools/images.py

lint: $(VENV)/.stamp
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/lint-imports
	$(BIN)/mypy

crds: $(VENV)/.stamp
	$(PY) -m mcp_operator.crds write

crds-check: $(VENV)/.stamp
	$(PY) -m mcp_operator.crds check

test: deps lint crds-check images
	$(BIN)/coverage erase
	$(BIN)/pytest -p no:cacheprovider --cov --cov-report=term -q

test-fast: deps
	$(BIN)/pytest -q -x tests/unit

demo: deps images
	$(PY) tools/demo.py $(DEMO_ARGS)

bench: deps
	$(PY) bench/reconcile.py
	$(PY) bench/bridge.py
	$(PY) bench/coldstart.py

# Local Kubernetes control plane (tests/controlplane/README.md). `make controlplane` builds it
# (skipped when the source stamp matches) and runs it in the FOREGROUND until Ctrl-C / SIGTERM;
# it prints the admin kubeconfig path once ready. controlplane-start / controlplane-stop run it
# in the background instead. The build uses Go's per-user caches (GOCACHE, GOMODCACHE).
CONTROLPLANE := $(PYTHON) tests/controlplane/manage.py
.PHONY: controlplane-build controlplane-start controlplane-stop controlplane-status
controlplane:
	$(CONTROLPLANE) run

controlplane-build:
	$(CONTROLPLANE) build

controlplane-start:
	$(CONTROLPLANE) start

controlplane-stop:
	$(CONTROLPLANE) stop

controlplane-status:
	$(CONTROLPLANE) status

clean:
	rm -rf $(VENV) node_modules .cache .coverage .mypy_cache .ruff_cache
