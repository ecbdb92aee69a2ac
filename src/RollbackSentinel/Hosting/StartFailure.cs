using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace RollbackSentinel.Hosting;

/// <summary>A reason the daemon cannot start, already worded for the operator (the store is unusable, no rules).</summary>
internal sealed class DaemonStartException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>Turns whatever stopped the daemon's start into the one line the operator sees.</summary>
internal static class StartFailure
{
    /// <summary>The line, with every known secret (<see cref="Core.Secrets.SecretRegistry.Shared"/>) redacted: it goes to stderr, not through the log.</summary>
    public static string Describe(Exception failure, SentinelOptions options) => Core.Secrets.SecretRegistry.Shared.Redact(DescribeCore(failure, options));

    private static string DescribeCore(Exception failure, SentinelOptions options)
    {
        var chain = Chain(failure).ToList();
        if (chain.OfType<DaemonStartException>().FirstOrDefault() is { } start)
        {
            return start.Message;
        }

        if (chain.OfType<System.Data.Common.DbException>().FirstOrDefault() is { } store)
        {
            // A store failure outside the store's own start (its SocketException is not about listening).
            return $"the store {options.DescribeStore()} cannot be used: {store.Message}";
        }

        var listen = options.Http.Listen;
        if (chain.OfType<AddressInUseException>().Any())
        {
            return $"cannot listen on {listen}: address already in use (another process has the port; change http:listen or --listen)";
        }

        if (chain.OfType<SocketException>().FirstOrDefault() is { } socket)
        {
            return socket.SocketErrorCode == SocketError.AccessDenied
                ? $"cannot listen on {listen}: permission denied (ports below 1024 need privileges)"
                : $"cannot listen on {listen}: {socket.Message}";
        }

        if (chain.Any(e => e.Message.Contains("certificate", StringComparison.OrdinalIgnoreCase)))
        {
            return $"cannot serve {listen}: {chain.First(e => e.Message.Contains("certificate", StringComparison.OrdinalIgnoreCase)).Message}";
        }

        return $"the daemon could not start: {string.Join(": ", chain.Select(e => e.Message).Distinct())}";
    }

    private static IEnumerable<Exception> Chain(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is AggregateException aggregate)
            {
                foreach (var inner in aggregate.InnerExceptions.SelectMany(Chain))
                {
                    yield return inner;
                }

                yield break;
            }

            yield return x;
        }
    }
}
