# Multi-stage build of the zaryad binary. Build: docker build -t zaryad .
# Run:   docker run -p 9000:9000 -p 8080:8080 -v zaryad-data:/var/lib/zaryad/data zaryad
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p zaryad-server \
    && cp target/release/zaryad /usr/local/bin/zaryad

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system zaryad \
    && useradd --system --gid zaryad --home-dir /var/lib/zaryad --create-home zaryad
COPY --from=build /usr/local/bin/zaryad /usr/local/bin/zaryad
COPY config/default.toml /var/lib/zaryad/config/default.toml
WORKDIR /var/lib/zaryad
USER zaryad
# The API listens on loopback by default; inside a container it must listen on all addresses.
ENV ZARYAD_API__LISTEN=0.0.0.0:8080
EXPOSE 9000 8080
VOLUME ["/var/lib/zaryad/data"]
HEALTHCHECK --interval=10s --timeout=3s CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080"]
ENTRYPOINT ["/usr/bin/tini", "--", "zaryad"]
CMD ["serve"]
