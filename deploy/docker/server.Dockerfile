# syntax=docker/dockerfile:1
# The symbatcher server image: the release binary on distroless/cc (glibc,
# libgcc; no shell, no package manager), run as a non-root user.
# Build from the repository root:
#   docker build -f deploy/docker/server.Dockerfile -t symbatcher-server:0.1.0 .

FROM rust:1.88-slim-bookworm AS build
WORKDIR /src
# Only what the crate needs: the manifest, the lockfile, the protos build.rs
# compiles, and the server sources.
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto ./proto
COPY server ./server
ENV CARGO_PROFILE_RELEASE_STRIP=symbols
RUN cargo build --release --locked --bin symbatcher-server

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/symbatcher-server /usr/local/bin/symbatcher-server
# 65532: the "nonroot" user of the distroless images.
USER 65532:65532
# 50051: gRPC (jobs, workers, engines, Status, grpc.health.v1 for probes).
# 9100: Prometheus metrics, when started with --metrics-listen 0.0.0.0:9100.
EXPOSE 50051 9100
ENTRYPOINT ["/usr/local/bin/symbatcher-server"]
# A non-loopback address needs a token: set SYMBATCHER_AUTH_TOKEN (or pass
# --auth-token-file) when running the image.
CMD ["--listen", "0.0.0.0:50051"]
