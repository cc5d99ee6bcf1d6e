# symbatcher: build, install, demo, test, bench.
# Everything a fresh machine needs: a Rust toolchain and python3 (3.10+).

PYTHON ?= python3
VENV   := .venv
VPY    := $(VENV)/bin/python
SERVER := target/release/symbatcher-server
STAMP  := $(VENV)/.installed

.PHONY: all build install demo test test-rust test-python proto-check bench fmt clean

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

## Run the quick-start example: a real batch on the embedded echo engine.
demo: install
	$(VPY) examples/quickstart.py

## Every test: Rust unit and integration tests, stub drift, Python tests.
test: install test-rust proto-check test-python

test-rust:
	cargo test --locked

proto-check: $(STAMP)
	cd client-python && ../$(VPY) scripts/gen_proto.py --check

test-python: install
	cd client-python && ../$(VPY) -m pytest -q

## Benchmarks (run by hand; they print medians and ratios).
bench: install
	$(VPY) bench/throughput.py

fmt:
	cargo fmt

clean:
	cargo clean
	rm -rf $(VENV)
