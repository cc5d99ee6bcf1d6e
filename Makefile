# symbatcher: build, install, demo, test, bench.
# Everything a fresh machine needs: a Rust toolchain and python3 (3.10+).

PYTHON ?= python3
VENV   := .venv
VPY    := $(VENV)/bin/python
SERVER := target/release/symbatcher-server
NODE   := client-node
STAMP  := $(VENV)/.installed
# hadolint, actionlint, kubectl (kustomize) and kubernetes-validate, in a
# virtualenv of their own (deploy/tools/requirements.txt).
TOOLS  := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed
# maturin and zig, for `make wheel` only (client-python/requirements-wheel.txt).
WHEEL_VENV := .venv-wheel
WHEEL_STAMP := $(WHEEL_VENV)/.installed
# The Linux wheels: manylinux2014 (glibc 2.17), built with zig as the linker.
WHEEL_TARGETS := x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu
# mkdocs and mkdocs-material, in a virtualenv of their own (docs/requirements.txt).
DOCS_VENV := .venv-docs
DOCS_STAMP := $(DOCS_VENV)/.installed

.PHONY: all build install demo test test-rust lint-rust test-python typecheck-python test-node proto-check wheel test-wheel test-deploy docs bench fmt clean

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

$(WHEEL_STAMP): client-python/requirements-wheel.txt
	$(PYTHON) -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/pip install --quiet -r client-python/requirements-wheel.txt
	touch $(WHEEL_STAMP)

## The Linux wheels (the Python package plus the stripped server binary),
## tagged manylinux2014 (glibc 2.17) for x86_64 and aarch64, and the sdist
## (which builds the server from source) into dist/. zig links against
## glibc 2.17's symbols whatever the build machine's glibc; each target
## builds into target/<triple>/release. The aarch64 standard library comes
## from rustup (`rustup target add`), once.
wheel: $(WHEEL_STAMP)
	@for target in $(WHEEL_TARGETS); do \
		rustup target list --installed | grep -x "$$target" >/dev/null || rustup target add "$$target" || { \
			echo "make wheel: cannot add the Rust target $$target with rustup (it downloads the target's standard library)" >&2; exit 1; }; \
	done
	rm -f dist/symbatcher-*.whl dist/symbatcher-*.tar.gz
	cd client-python && for target in $(WHEEL_TARGETS); do \
		PATH="$(CURDIR)/$(WHEEL_VENV)/bin:$$PATH" maturin build --release --locked --strip \
			--zig --compatibility manylinux2014 --target "$$target" --out ../dist || exit 1; \
	done
	@# maturin sdist looks for a Cargo.toml in client-python/ before it reads
	@# pyproject's manifest-path, and says so with a harmless `error:` line.
	cd client-python && { ../$(WHEEL_VENV)/bin/maturin sdist --out ../dist > ../dist/.sdist.log 2>&1; \
		status=$$?; grep -v '^error: manifest path `Cargo.toml` does not exist$$' ../dist/.sdist.log; \
		rm -f ../dist/.sdist.log; exit $$status; }

## Install the wheel into a fresh virtualenv in a temp dir, as a user would,
## and run a job and `symbatcher status` with it (client-python/tests_wheel).
test-wheel: wheel $(STAMP)
	cd client-python && SYMBATCHER_WHEEL_DIR=$(CURDIR)/dist ../$(VPY) -m pytest -q tests_wheel

## Lint the Dockerfiles (hadolint) and the release workflow (actionlint);
## render deploy/k8s with kustomize and validate it against the Kubernetes
## schemas (deploy/tools/check_manifests.py).
test-deploy: $(TOOLS_STAMP)
	$(TOOLS)/bin/actionlint .github/workflows/*.yml
	$(TOOLS)/bin/hadolint deploy/docker/server.Dockerfile deploy/docker/worker.Dockerfile
	$(TOOLS)/bin/python deploy/tools/check_manifests.py deploy/k8s

$(DOCS_STAMP): docs/requirements.txt
	$(PYTHON) -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/pip install --quiet -r docs/requirements.txt
	touch $(DOCS_STAMP)

## The documentation site (mkdocs.yml, docs/) into site/, strictly: a broken
## link, a missing anchor or a page left out of the navigation fails.
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(DOCS_VENV)/bin/mkdocs build --strict

## Run the quick-start example: a real batch on the embedded echo engine.
demo: install
	$(VPY) examples/quickstart.py

## Every test: Rust lints, Rust unit and integration tests, stub drift, Python
## tests, the Python package's types, the installed wheel, the deployment
## files, Node tests, the documentation site.
test: install lint-rust test-rust proto-check test-python typecheck-python test-wheel test-deploy test-node docs

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
	rm -rf $(VENV) $(TOOLS) $(WHEEL_VENV) $(DOCS_VENV) dist site
