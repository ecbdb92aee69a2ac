using System.Collections.Concurrent;
using System.Globalization;
using RollbackSentinel.Testing.Net;

namespace RollbackSentinel.Cli.Tests.Api;

/// <summary>
/// A stand-in for Prometheus that answers every instant query with one series per <c>deployment</c>, each with the
/// value a test sets now (<see cref="Set"/>): enough to move a threshold trigger between passing and breaching on cue.
/// </summary>
internal sealed class SteppedPrometheus : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, double> _values = new(StringComparer.Ordinal);
    private readonly LoopbackHttpServer _server;

    public SteppedPrometheus(params (string Deployment, double Value)[] series)
    {
        foreach (var (deployment, value) in series)
        {
            _values[deployment] = value;
        }

        _server = LoopbackHttpServer.Start((_, _) => Task.FromResult(new CannedResponse(200, Vector())));
    }

    public Uri BaseAddress => _server.BaseAddress;

    /// <summary>A policy whose one trigger, <c>errors</c>, breaches when a deployment's value is above 1 (for <paramref name="for"/>), evaluated every second.</summary>
    public static string Policy(string name, Uri webhook, string @for = "1h", string action = "page", string? spec = null) => $"""
        apiVersion: rollback-sentinel/v1
        kind: RollbackPolicy
        metadata:
          name: {name}
        spec:
          target:
            webhook:
              url: {webhook}rollback-{name}
          schedule:
            interval: 1s
        {spec ?? string.Empty}
          triggers:
            - name: errors
              threshold:
                query: max by (deployment) (errors)
                op: ">"
                value: 1
              for: {@for}
              action: {action}
        """;

    public void Set(string deployment, double value) => _values[deployment] = value;

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    private string Vector() =>
        """{"status":"success","data":{"resultType":"vector","result":["""
        + string.Join(",", _values.OrderBy(v => v.Key, StringComparer.Ordinal).Select(v =>
            $$"""{"metric":{"deployment":"{{v.Key}}"},"value":[1795132800,"{{v.Value.ToString(CultureInfo.InvariantCulture)}}"]}"""))
        + "]}}";
}
