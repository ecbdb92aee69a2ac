using System.Diagnostics;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// Waits for a condition on real servers, polling, with a bound. Not a timing assertion: the bound is far
/// above what the condition needs, and it fails with what was last seen.
/// </summary>
internal static class Eventually
{
    public static async Task<T> WaitAsync<T>(Func<Task<T?>> probe, TimeSpan within, string what)
        where T : class
    {
        var clock = Stopwatch.StartNew();
        Exception? last = null;
        while (clock.Elapsed < within)
        {
            try
            {
                if (await probe() is { } value)
                {
                    return value;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
            {
                last = e;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"waited {within.TotalSeconds:0} s for {what}" + (last is null ? string.Empty : $"; last error: {last.Message}"));
    }

    public static Task WaitAsync(Func<Task<bool>> probe, TimeSpan within, string what) =>
        WaitAsync<object>(async () => await probe() ? new object() : null, within, what);
}
