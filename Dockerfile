# RollbackSentinel: the rollback-sentinel CLI (validate, backtest; the daemon comes next).
#   docker build -t rollback-sentinel .
#   docker run --rm -v "$PWD/rules:/rules:ro" rollback-sentinel validate /rules
# Build stage: restore and publish with the SDK.
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY Directory.Build.props Directory.Packages.props BannedSymbols.txt .editorconfig ./
COPY src/ src/
RUN dotnet publish src/RollbackSentinel/RollbackSentinel.csproj -c Release -o /app --no-self-contained

# Runtime stage: the ASP.NET Core runtime (the daemon serves HTTP), as the image's non-root user.
FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
WORKDIR /app
COPY --from=build /app ./
COPY rules/ /rules/
# The root filesystem can be mounted read-only: nothing is written outside mounted volumes.
ENV DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    DOTNET_NOLOGO=1
USER $APP_UID
ENTRYPOINT ["dotnet", "/app/RollbackSentinel.dll"]
CMD ["validate", "/rules"]
