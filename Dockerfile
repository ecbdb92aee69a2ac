# RollbackSentinel: the daemon, and the CLI (validate, backtest, plan, status, incidents, healthcheck).
#   docker build -t rollback-sentinel .
#   docker run --rm --read-only --tmpfs /tmp -v "$PWD/rules:/rules:ro" -v sentinel-data:/data -p 8080:8080 \
#     -e SENTINEL__PROMETHEUS__URL=http://prometheus:9090 rollback-sentinel
#   docker run --rm -v "$PWD/rules:/rules:ro" rollback-sentinel validate /rules
# Runs as the image's non-root user. It writes only to /data (the store, and the generated API token when
# none is given) and /tmp (kubectl's discovery cache), so the root filesystem can be mounted read-only.
# Kubernetes manifests (sidecar, central daemon, three nodes on PostgreSQL) are in deploy/kubernetes/.

ARG DOTNET_VERSION=10.0
ARG KUBECTL_VERSION=v1.32.4

# ---- build: restore and publish the daemon only (tests and samples are not part of the image) ----
FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS build
WORKDIR /src
COPY Directory.Build.props Directory.Packages.props BannedSymbols.txt .editorconfig ./
COPY src/ src/
RUN dotnet publish src/RollbackSentinel/RollbackSentinel.csproj -c Release -o /app --no-self-contained

# ---- kubectl for the kubectl adapter: the release binary, checked against its published SHA-256 ----
FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS kubectl
ARG KUBECTL_VERSION
ARG TARGETARCH=amd64
ADD https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${TARGETARCH}/kubectl /kubectl
ADD https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${TARGETARCH}/kubectl.sha256 /kubectl.sha256
RUN echo "$(cat /kubectl.sha256)  /kubectl" | sha256sum --check --strict && chmod 0755 /kubectl
# The helm adapter needs helm the same way, if you use it, e.g.:
#   COPY --from=alpine/helm:3.16.3 /usr/bin/helm /usr/local/bin/helm

# ---- runtime: the ASP.NET Core runtime (the daemon serves HTTP) ----
FROM mcr.microsoft.com/dotnet/aspnet:${DOTNET_VERSION} AS runtime
WORKDIR /app
COPY --from=build /app ./
COPY --from=kubectl /kubectl /usr/local/bin/kubectl
# No rules are shipped: the examples include a policy that really rolls back (any Deployment in namespace shop).
# Mount yours at /rules (a ConfigMap, or a git-sync volume); without them `run` exits 2 saying so.
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    DOTNET_NOLOGO=1 \
    HOME=/tmp \
    SENTINEL__RULES=/rules \
    SENTINEL__STORAGE__PATH=/data/sentinel.db \
    SENTINEL__HTTP__LISTEN=http://0.0.0.0:8080
RUN mkdir -p /data && chown "$APP_UID" /data
VOLUME /data
EXPOSE 8080
USER $APP_UID
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["dotnet", "/app/RollbackSentinel.dll", "healthcheck"]
ENTRYPOINT ["dotnet", "/app/RollbackSentinel.dll"]
CMD ["run", "--log-format", "json"]
