using System.Text;
using RollbackSentinel.Testing.InfluxDb;

namespace RollbackSentinel.Backends.Tests.InfluxDb;

/// <summary>
/// The points the real-server tests read, in database <c>app</c>, from <see cref="T0"/> (epoch seconds):
/// <list type="bullet">
/// <item><c>http,app=checkout,pod=a</c>: errors = k, total = 10k + 10 every 15 s from T0 to T0 + 300 (k = 0..20); at T0 + 45 errors and total are both 0.</item>
/// <item><c>http,app=checkout,pod=b</c>: errors = 100 + k at T0, T0 + 15, T0 + 30, then a gap to T0 + 900 (errors = 200).</item>
/// <item><c>grpc,app=checkout,pod=a</c>: errors = 7 at T0 (same tags as http's pod a, another measurement).</item>
/// <item><c>deploy,app=checkout</c>: version = "v2" (a string field) at T0.</item>
/// <item><c>daily,app=checkout</c>: value = h every hour for two days from T0 (h = 0..48).</item>
/// </list>
/// </summary>
public sealed class InfluxDbHistory : InfluxDbFixture
{
    public const string Database = "app";
    public const long T0 = 1_700_000_000;

    public static DateTimeOffset At(long secondsAfterT0) => DateTimeOffset.FromUnixTimeSeconds(T0 + secondsAfterT0);

    protected override async Task SeedAsync(InfluxDbServer server, CancellationToken cancellationToken)
    {
        await server.CreateDatabaseAsync(Database, cancellationToken);
        var lines = new StringBuilder();
        for (var k = 0; k <= 20; k++)
        {
            var (errors, total) = k == 3 ? (0, 0) : (k, (10 * k) + 10);
            lines.Append($"http,app=checkout,pod=a errors={errors},total={total} {T0 + (15 * k)}\n");
        }

        for (var k = 0; k < 3; k++)
        {
            lines.Append($"http,app=checkout,pod=b errors={100 + k},total=1000 {T0 + (15 * k)}\n");
        }

        lines.Append($"http,app=checkout,pod=b errors=200,total=1000 {T0 + 900}\n");
        lines.Append($"grpc,app=checkout,pod=a errors=7 {T0}\n");
        lines.Append($"deploy,app=checkout version=\"v2\" {T0}\n");
        for (var h = 0; h <= 48; h++)
        {
            lines.Append($"daily,app=checkout value={h} {T0 + (3600 * h)}\n");
        }

        await server.WriteAsync(Database, lines.ToString(), cancellationToken);
    }
}
