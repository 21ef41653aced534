# Image of `app` (ETL + mock ingestion API). Built by `docker compose up --build`, or:
#   docker build -t appliance-etl:local .
#
# Stage 1 builds the release binary with the official Rust image; the dependencies are compiled in their own layer
# (against a dummy crate), so editing src/ recompiles only the crate itself. Stage 2 is Debian slim with the binary,
# a non-root user and a HEALTHCHECK for the mock API. The Rust and Debian releases must match (glibc).
ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
# make: C dependencies that build from source with it (tikv-jemalloc-sys) need it; the slim image has only gcc.
RUN apt-get update \
 && apt-get install -y --no-install-recommends make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies only: the manifests, a dummy lib + main, and a dummy file for every other target Cargo.toml declares
# ([[bench]], [[test]], [[example]], [[bin]]: cargo refuses a manifest whose targets are missing; `cargo build`
# compiles none of them). This layer is reused until Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock build.rs ./
RUN set -eu \
 && mkdir -p src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
 && for f in $(awk 'function stub() { if (kind != "") { if (path == "") path = (kind == "bench" ? "benches/" : kind == "test" ? "tests/" : kind == "example" ? "examples/" : "src/bin/") name ".rs"; print path } kind = "" } \
      /^\[\[(bin|bench|test|example)\]\]/ { stub(); kind = $0; gsub(/[][ \t]/, "", kind); name = ""; path = ""; next } \
      /^\[/ { stub(); next } \
      kind != "" && /^[ \t]*name[ \t]*=/ { name = $0; sub(/^[^"]*"/, "", name); sub(/".*/, "", name) } \
      kind != "" && /^[ \t]*path[ \t]*=/ { path = $0; sub(/^[^"]*"/, "", path); sub(/".*/, "", path) } \
      END { stub() }' Cargo.toml); do \
      mkdir -p "$(dirname "$f")"; [ -e "$f" ] || echo 'fn main() {}' > "$f"; \
    done \
 && cargo build --release --locked \
 && rm -rf src target/release/app target/release/deps/app-* target/release/deps/libapp-* \
           target/release/.fingerprint/app-*
# The crate itself (the dummy bench/test/example files stay: they are not built). `touch` makes sure cargo sees the
# sources as newer than the dummy build.
COPY src ./src
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked \
 && objcopy --strip-debug target/release/app /usr/local/bin/app

FROM ${RUNTIME_IMAGE} AS runtime
# The system's CA certificates: an https:// API with a certificate from a public CA is trusted without load.ca_file
# (without them the run stops at start, "system holds none", which pushes towards insecure_skip_verify).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# A fixed non-root uid/gid, so that volume ownership is the same in every build. /app/spool and /app/logs exist
# (owned by that user) so that named volumes mounted there start with the right owner.
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app \
 && mkdir -p /app/spool /app/logs \
 && chown -R app:app /app
COPY --from=build /usr/local/bin/app /usr/local/bin/app
# Defaults for `docker run` without mounts (e.g. `docker run --rm appliance-etl:local demo`); docker-compose.yml
# mounts the repository's copies over them, read-only.
COPY config/ /app/config/
COPY appliances.csv /app/appliances.csv
WORKDIR /app
USER app:app
# The mock API's port (the ETL needs none). The mock listens on 127.0.0.1 unless told otherwise
# (APP__MOCK__BIND=0.0.0.0:8080, as docker-compose.yml does).
EXPOSE 8080
# Meaningful for `app mock-server`; docker-compose.yml disables it for the ETL services.
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
  CMD ["app", "healthcheck", "--url", "http://127.0.0.1:8080/health", "--timeout-ms", "3000"]
ENTRYPOINT ["app"]
CMD ["--help"]
