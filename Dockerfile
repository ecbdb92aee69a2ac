# RollbackSentinel: the daemon, and the CLI (validate, backtest, plan, status, incidents, healthcheck), as one
# Native AOT executable on a chiseled Ubuntu base (no .NET runtime, no shell): about 110 MB with kubectl (bench/README.md).
#   docker build -t rollback-sentinel .
#   docker run --rm --read-only --tmpfs /tmp -v "$PWD/rules:/rules:ro" -v sentinel-data:/data -p 8080:8080 \
#     -e SENTINEL__PROMETHEUS__URL=http://prometheus:9090 rollback-sentinel
#   docker run --rm -v "$PWD/rules:/rules:ro" rollback-sentinel validate /rules
# Runs as the image's non-root user. It writes only to /data (the store, and the generated API token when
# none is given) and /tmp (kubectl's discovery cache), so the root filesystem can be mounted read-only.
# Kubernetes manifests (sidecar, central daemon, three nodes on PostgreSQL) are in deploy/kubernetes/.

ARG DOTNET_VERSION=10.0
ARG KUBECTL_VERSION=v1.32.4

# ---- build: the daemon only (tests and samples are not part of the image), by scripts/publish: one Native AOT
# executable, /app/rollback-sentinel, and libe_sqlite3.so beside it (docs/aot.md). The script installs clang and
# zlib1g-dev, which the AOT linker needs. The SDK image is Ubuntu 24.04, the runtime image's glibc.
FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION}-noble AS build
WORKDIR /src
COPY Directory.Build.props Directory.Packages.props BannedSymbols.txt .editorconfig ./
COPY scripts/publish scripts/
COPY scripts/lib/ scripts/lib/
COPY src/ src/
RUN PUBLISH_DIR=/app scripts/publish
# The runtime image has no shell: the folders the daemon writes are made here. /data is the app user's
# (1654, $APP_UID in the .NET images); /tmp is writable by all, as usual.
RUN mkdir -p /rootfs/data /rootfs/tmp && chown 1654:1654 /rootfs/data && chmod 1777 /rootfs/tmp

# ---- kubectl for the kubectl adapter: the release binary, checked against its published SHA-256 ----
FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS kubectl
ARG KUBECTL_VERSION
ARG TARGETARCH=amd64
ADD https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${TARGETARCH}/kubectl /kubectl
ADD https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${TARGETARCH}/kubectl.sha256 /kubectl.sha256
RUN echo "$(cat /kubectl.sha256)  /kubectl" | sha256sum --check --strict && chmod 0755 /kubectl
# The helm adapter needs helm the same way, if you use it, e.g.:
#   COPY --from=alpine/helm:3.16.3 /usr/bin/helm /usr/local/bin/helm

# ---- runtime: the native dependencies only (glibc, OpenSSL, ...; no .NET runtime, no shell, non-root user) ----
FROM mcr.microsoft.com/dotnet/runtime-deps:${DOTNET_VERSION}-noble-chiseled AS runtime
WORKDIR /app
COPY --from=build /app ./
COPY --from=kubectl /kubectl /usr/local/bin/kubectl
COPY --from=build --chown=1654:1654 /rootfs/data /data
COPY --from=build /rootfs/tmp /tmp
# No rules are shipped: the examples include a policy that really rolls back (any Deployment in namespace shop).
# Mount yours at /rules (a ConfigMap, or a git-sync volume); without them `run` exits 2 saying so.
ENV HOME=/tmp \
    SENTINEL__RULES=/rules \
    SENTINEL__STORAGE__PATH=/data/sentinel.db \
    SENTINEL__HTTP__LISTEN=http://0.0.0.0:8080
VOLUME /data
EXPOSE 8080
USER $APP_UID
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/app/rollback-sentinel", "healthcheck"]
ENTRYPOINT ["/app/rollback-sentinel"]
CMD ["run", "--log-format", "json"]
