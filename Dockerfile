# RollbackSentinel: the daemon (and the CLI: validate, backtest, status, incidents).
#   docker build -t rollback-sentinel .
#   docker run --rm -v "$PWD/rules:/rules:ro" -v sentinel-data:/data -p 8080:8080 \
#     -e SENTINEL__PROMETHEUS__URL=http://prometheus:9090 rollback-sentinel
#   docker run --rm -v "$PWD/rules:/rules:ro" rollback-sentinel validate /rules
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY Directory.Build.props Directory.Packages.props BannedSymbols.txt .editorconfig ./
COPY src/ src/
RUN dotnet publish src/RollbackSentinel/RollbackSentinel.csproj -c Release -o /app --no-self-contained

# The ASP.NET Core runtime (the daemon serves HTTP), as the image's non-root user ($APP_UID).
FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
WORKDIR /app
COPY --from=build /app ./
COPY rules/ /rules/
# Nothing is written outside /data, so the root filesystem can be mounted read-only.
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    DOTNET_NOLOGO=1 \
    SENTINEL__RULES=/rules \
    SENTINEL__STORAGE__PATH=/data/sentinel.db \
    SENTINEL__HTTP__LISTEN=http://0.0.0.0:8080
RUN mkdir -p /data && chown "$APP_UID" /data
VOLUME /data
EXPOSE 8080
USER $APP_UID
ENTRYPOINT ["dotnet", "/app/RollbackSentinel.dll"]
CMD ["run", "--log-format", "json"]
