# syntax=docker/dockerfile:1

# --- build ------------------------------------------------------------------------------------
FROM rust:1-bookworm AS builder
WORKDIR /build

# Dependencies first, against placeholder sources: this layer is rebuilt only when Cargo.toml or
# Cargo.lock change. (When the workspace gains members, copy their Cargo.toml files here too.)
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && : > src/lib.rs \
 && cargo build --release --locked --bin dialogue-server \
 && rm -rf src

# The real sources. schemas/ is compiled into the binary with include_str!.
COPY src ./src
COPY schemas ./schemas
# COPY keeps the files' original timestamps, which are older than the placeholder build: touch
# the crate roots so that cargo rebuilds the crate itself.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --bin dialogue-server

# --- run --------------------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 dialogue \
 && useradd --system --uid 10001 --gid dialogue --no-create-home --shell /usr/sbin/nologin dialogue
COPY --from=builder /build/target/release/dialogue-server /usr/local/bin/dialogue-server

USER dialogue
ENV DIALOGUE_BIND=0.0.0.0:8080
EXPOSE 8080
# check-ready exits 0 when /readyz on DIALOGUE_BIND answers 200, that is when the database answers.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["dialogue-server", "check-ready"]
ENTRYPOINT ["dialogue-server"]
