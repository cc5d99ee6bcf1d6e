# syntax=docker/dockerfile:1
# A symbatcher worker image: Python with the symbatcher wheel (which carries
# the server binary too) installed, run as a non-root user. It serves the
# example expressions of examples/summarize.py from /app; an image of your
# own starts `FROM` this one and copies its expression modules into /app.
# Build from the repository root:
#   docker build -f deploy/docker/worker.Dockerfile -t symbatcher-worker:0.1.0 .

FROM rust:1.88-slim-bookworm AS wheel
# maturin builds the platform wheel (the Python package plus the server
# binary) without a Python interpreter, since the wheel is tagged py3-none.
RUN cargo install --locked maturin@1.16.0
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto ./proto
COPY server ./server
COPY client-python ./client-python
WORKDIR /src/client-python
RUN maturin build --release --locked --strip --out /dist

FROM python:3.12-slim-bookworm
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1
COPY --from=wheel /dist /tmp/dist
RUN pip install /tmp/dist/symbatcher-0.1.0-*.whl \
    && rm -rf /tmp/dist \
    && groupadd --gid 10001 worker \
    && useradd --create-home --uid 10001 --gid 10001 worker
WORKDIR /app
COPY examples/summarize.py ./
USER 10001:10001
# symbatcher worker MODULE:CLASS --server HOST:PORT; the token comes from
# $SYMBATCHER_AUTH_TOKEN (or $SYMBATCHER_WORKER_TOKEN with role tokens).
ENTRYPOINT ["symbatcher", "worker", "--app-dir", "/app"]
CMD ["summarize:Summarize", "--server", "symbatcher-server:50051"]
