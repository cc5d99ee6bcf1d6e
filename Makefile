# symbatcher: build, install, demo, test, bench.
# Everything a fresh machine needs: a Rust toolchain and python3 (3.10+).

PYTHON ?= python3
VENV   := .venv
VPY    := $(VENV)/bin/python
SERVER := target/release/symbatcher-server
NODE   := client-node
STAMP  := $(VENV)/.installed
# maturin, hadolint, kubectl (kustomize) and kubernetes-validate, in a
# virtualenv of their own (deploy/tools/requirements.txt).
TOOLS  := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed

.PHONY: all build install demo test test-rust lint-rust test-python typecheck-python test-node proto-check wheel test-wheel test-deploy bench fmt clean

all: install

## Build the server binary (release).
build:
	cargo build --release --locked

## Create the virtualenv, install the client (and test tools) and the server binary into it.
$(STAMP): client-python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -e './client-python[test]'
	touch $(STAMP)

install: build $(STAMP)
	install -m 755 $(SERVER) $(VENV)/bin/symbatcher-server

$(TOOLS_STAMP): deploy/tools/requirements.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet -r deploy/tools/requirements.txt
	touch $(TOOLS_STAMP)

## The platform wheel (the Python package plus the stripped server binary)
## and the sdist (which builds the server from source) into dist/. maturin
## builds the binary in target/release with the release profile, reusing
## what `make build` compiled.
wheel: build $(TOOLS_STAMP)
	rm -f dist/symbatcher-*.whl dist/symbatcher-*.tar.gz
	cd client-python && ../$(TOOLS)/bin/maturin build --release --locked --strip --out ../dist
	cd client-python && ../$(TOOLS)/bin/maturin sdist --out ../dist

## Install the wheel into a fresh virtualenv in a temp dir, as a user would,
## and run a job and `symbatcher status` with it (client-python/tests_wheel).
test-wheel: wheel $(STAMP)
	cd client-python && SYMBATCHER_WHEEL_DIR=$(CURDIR)/dist ../$(VPY) -m pytest -q tests_wheel

## Lint the Dockerfiles (hadolint); render deploy/k8s with kustomize and
## validate it against the Kubernetes schemas (deploy/tools/check_manifests.py).
test-deploy: $(TOOLS_STAMP)
	$(TOOLS)/bin/hadolint deploy/docker/server.Dockerfile deploy/docker/worker.Dockerfile
	$(TOOLS)/bin/python deploy/tools/check_manifests.py deploy/k8s

## Run the quick-start example: a real batch on the embedded echo engine.
demo: install
	$(VPY) examples/quickstart.py

## Every test: Rust lints, Rust unit and integration tests, stub drift, Python
## tests, the Python package's types, the installed wheel, the deployment
## files, Node tests.
test: install lint-rust test-rust proto-check test-python typecheck-python test-wheel test-deploy test-node

## Rust lints: formatting and clippy (every target, warnings are errors).
lint-rust:
	cargo fmt --check
	cargo clippy --all-targets --locked -- -D warnings

test-rust:
	cargo test --locked

proto-check: $(STAMP)
	cd client-python && ../$(VPY) scripts/gen_proto.py --check

test-python: install
	cd client-python && ../$(VPY) -m pytest -q

## `mypy --strict` over the hand-written client package (pyproject's [tool.mypy];
## the generated v1/ stubs are typed by their .pyi files).
typecheck-python: $(STAMP)
	cd client-python && ../$(VPY) -m mypy

## The Node.js client and worker: install from the lockfile (its `prepare`
## script copies proto/ into the package and compiles), check that the message
## types in src/generated/ match proto/ (`npm run gen:types` rewrites them),
## run its tests against the server binary (and a Python worker from .venv),
## then `npm pack` it, install the tarball in a temp dir and run a job from
## there (test/packed/); then `buf lint` the protos (buf.yaml), with buf from
## the same lockfile. Skipped where node or npm is missing, unless
## SYMBATCHER_REQUIRE_NODE is set (.ci/run sets it).
test-node: install
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
		set -e; cd $(NODE); \
		rm -rf dist proto; \
		npm ci --no-audit --no-fund --loglevel=error; \
		npm run --silent check:generated; \
		npm test --silent; \
		npm run --silent test:packed; \
		npm run --silent lint:proto; \
	elif [ -n "$$SYMBATCHER_REQUIRE_NODE" ]; then \
		echo "test-node: node and npm are not on PATH, and SYMBATCHER_REQUIRE_NODE is set: install Node.js 20 or newer" >&2; \
		exit 1; \
	else \
		echo "test-node: SKIPPED: node or npm is not on PATH (install Node.js 20 or newer to run the Node client tests)"; \
	fi

## Benchmarks (run by hand): every scenario of bench/ against its baseline,
## printed as the markdown table of BENCHMARKS.md. `make bench QUICK=1` runs
## fewer items and repeats.
bench: install
	cargo build --release --locked --example capacity --example slow_openai
	$(VPY) bench/report.py $(if $(QUICK),--quick)

fmt:
	cargo fmt

clean:
	cargo clean
	rm -rf $(VENV) $(TOOLS) dist
