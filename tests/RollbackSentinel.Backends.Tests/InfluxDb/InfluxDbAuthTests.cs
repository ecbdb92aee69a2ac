using RollbackSentinel.Backends.InfluxDb;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Testing.InfluxDb;

namespace RollbackSentinel.Backends.Tests.InfluxDb;

/// <summary>An influxd with <c>auth-enabled</c>, an admin and a reader of database <c>app</c>.</summary>
public sealed class InfluxDbWithAuth : InfluxDbFixture
{
    public const string Reader = "sentinel";
    public const string ReaderPassword = "reader-pa55word";

    protected override InfluxDbServerOptions CreateOptions() => new() { AuthEnabled = true };

    protected override async Task SeedAsync(InfluxDbServer server, CancellationToken cancellationToken)
    {
        await server.CreateDatabaseAsync("app", cancellationToken);
        await server.CreateUserAsync(Reader, ReaderPassword, readDatabase: "app", cancellationToken);
        await server.WriteAsync("app", $"http,pod=a errors=3 {InfluxDbHistory.T0}", cancellationToken);
    }
}

/// <summary>Basic auth against a real influxd with authentication on.</summary>
public sealed class InfluxDbAuthTests(InfluxDbWithAuth influx) : IClassFixture<InfluxDbWithAuth>, IDisposable
{
    private const string Query = """SELECT "errors" FROM "http" WHERE $timeFilter""";

    private readonly HttpClient _http = new(InfluxDbBackend.CreateHandler());

    public void Dispose() => _http.Dispose();

    [Fact]
    public async Task Query_ReaderCredentials_AreSentAsBasicAuth()
    {
        var source = Source(InfluxDbWithAuth.Reader, InfluxDbWithAuth.ReaderPassword);

        var samples = await source.QueryAsync(Query, InfluxDbHistory.At(10), CancellationToken.None);

        Assert.Equal(3d, Assert.Single(samples).Value);
    }

    [Fact]
    public async Task Query_WrongPassword_IsUnauthorizedWithoutThePassword()
    {
        var source = Source(InfluxDbWithAuth.Reader, "wrong-password");

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => source.QueryAsync(Query, InfluxDbHistory.At(10), CancellationToken.None));

        Assert.Equal(MetricsErrorKind.Unauthorized, ex.Kind);
        Assert.Equal(401, ex.StatusCode);
        Assert.Contains("check the configured credentials", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong-password", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckSyntax_NoCredentials_ThrowsUnauthorizedInsteadOfJudgingTheQuery()
    {
        var checker = (IQueryChecker)Source(username: null, password: null);

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => checker.CheckSyntaxAsync(Query, CancellationToken.None));

        Assert.Equal(MetricsErrorKind.Unauthorized, ex.Kind);
    }

    private IMetricsSource Source(string? username, string? password) =>
        InfluxDbBackend.Create(
            _http,
            new InfluxDbOptions { BaseAddress = influx.BaseAddress, Database = "app", Username = username, Password = password });
}
