# syntax=docker/dockerfile:1
# One image for every part of crypto-gaf: `cgaf serve --roles ...`, `cgaf migrate`, `cgaf plugin ...`.
#   docker build -t crypto-gaf:0.1.0 .
#   docker run --rm -p 4202:4202 -e CGAF_DATABASE_URL=postgres://... crypto-gaf:0.1.0
# The runtime image has no PostgreSQL server: point it at a database (the Helm chart does).

FROM rust:1.95-bookworm AS builder
RUN rustup target add wasm32-wasip2
WORKDIR /src
# One target folder for the plugin script and cargo (scripts/env.sh keeps a set CARGO_TARGET_DIR).
ENV CARGO_TARGET_DIR=/src/target
COPY . .
# The built-in plugins (wasm32-wasip2) first, then the binary. The caches keep crates and the
# target folder between builds; the binary is copied out of the cache mount.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    bash scripts/build-plugins.sh \
 && cargo build --release --locked -p cgaf \
 && install -D -m 0755 "$CARGO_TARGET_DIR/release/cgaf" /out/cgaf

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 cgaf \
 && useradd --uid 10001 --gid 10001 --home-dir /var/lib/cgaf --create-home --shell /usr/sbin/nologin cgaf
COPY --from=builder /out/cgaf /usr/local/bin/cgaf
WORKDIR /var/lib/cgaf
# Inside a container the server must listen on every interface (the binary's default is 127.0.0.1).
ENV CGAF_LISTEN=0.0.0.0:4202 \
    CGAF_DATA_DIR=/var/lib/cgaf
USER 10001:10001
EXPOSE 4202
ENTRYPOINT ["cgaf"]
CMD ["serve"]
