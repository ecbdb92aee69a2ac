using System.Collections.Concurrent;
using RollbackSentinel.Testing.Net;

namespace RollbackSentinel.Cluster.Tests;

/// <summary>
/// The rollback endpoint of every policy (<c>/rollback/{policy}</c>), counting deliveries per policy. A policy can be
/// made to hold its deliveries until the test releases them, to catch the node that sends one mid-action.
/// </summary>
internal sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _holds = new(StringComparer.Ordinal);
    private readonly LoopbackHttpServer _server;

    public WebhookReceiver()
    {
        _server = LoopbackHttpServer.Start(async (request, ct) =>
        {
            if (_holds.TryGetValue(PolicyOf(request), out var hold))
            {
                await hold.Task.WaitAsync(ct);
            }

            return new CannedResponse(200, "{\"ok\":true}");
        });
    }

    public Uri BaseAddress => _server.BaseAddress;

    public string UrlFor(string policy) => $"{_server.BaseAddress}rollback/{policy}";

    /// <summary>Every delivery received for <paramref name="policy"/> (counted on arrival, answered or not).</summary>
    public IReadOnlyList<RecordedRequest> Deliveries(string policy) => [.. _server.Requests.Where(r => PolicyOf(r) == policy)];

    /// <summary>From now on, deliveries for <paramref name="policy"/> are answered only once <see cref="Release"/> is called.</summary>
    public void Hold(string policy) => _holds[policy] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Release(string policy)
    {
        if (_holds.TryRemove(policy, out var hold))
        {
            hold.TrySetResult();
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var policy in _holds.Keys)
        {
            Release(policy);
        }

        await _server.DisposeAsync();
    }

    private static string PolicyOf(RecordedRequest request) =>
        request.PathAndQuery.StartsWith("/rollback/", StringComparison.Ordinal) ? request.PathAndQuery["/rollback/".Length..] : string.Empty;
}
