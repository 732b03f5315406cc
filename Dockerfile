# Build: the whole workspace in a Rust image, release profile.
FROM rust:1.95-slim-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev pkg-config && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin chorus

# Run: a slim image with only libpq, as a non-root user; the data folder is a volume.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/chorus --create-home chorus
COPY --from=build /src/target/release/chorus /usr/local/bin/chorus
USER chorus
WORKDIR /var/lib/chorus
# Log at warn: Docker's log driver timestamps every line, and request lines with to-the-second times
# could be matched against a network operator's records (docs/privacy.md).
ENV CHORUS_DATA_DIR=/var/lib/chorus/data \
    CHORUS_BIND=0.0.0.0:8080 \
    CHORUS_LOG=warn
VOLUME ["/var/lib/chorus/data"]
EXPOSE 8080
ENTRYPOINT ["chorus"]
CMD ["serve"]
