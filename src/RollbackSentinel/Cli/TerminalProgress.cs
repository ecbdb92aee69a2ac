using RollbackSentinel.Core.Backtesting;

namespace RollbackSentinel.Cli;

/// <summary>
/// One line on a terminal's stderr, overwritten in place (<c>\r</c>) as a long backtest goes, and cleared at the end.
/// Off unless stderr is the process's own console and a terminal: never in files, pipes or captured output.
/// </summary>
internal sealed class TerminalProgress(TextWriter error, TimeProvider time) : IProgress<BacktestProgress>, IDisposable
{
    private static readonly TimeSpan Every = TimeSpan.FromMilliseconds(200);

    private readonly Lock _gate = new();
    private DateTimeOffset _last = DateTimeOffset.MinValue;
    private int _width;

    /// <summary>A progress line for <paramref name="error"/> if it is a terminal, else null.</summary>
    public static TerminalProgress? For(TextWriter error, TimeProvider time) =>
        ReferenceEquals(error, Console.Error) && !Console.IsErrorRedirected ? new TerminalProgress(error, time) : null;

    public void Report(BacktestProgress value)
    {
        ArgumentNullException.ThrowIfNull(value);
        lock (_gate)
        {
            var now = time.GetUtcNow();
            if (now - _last < Every && value.Done != value.Total)
            {
                return;
            }

            _last = now;
            var percent = value.Total == 0 ? 100 : value.Done * 100 / value.Total;
            var line = value.Phase == BacktestPhase.Fetching
                ? $"backtest: fetching history, {value.Done}/{value.Total} range queries ({percent}%)"
                : $"backtest: replaying, {value.Done}/{value.Total} evaluations ({percent}%)";
            error.Write("\r" + line.PadRight(_width));
            error.Flush();
            _width = line.Length;
        }
    }

    /// <summary>Clears the line, so what follows starts on a clean one.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_width > 0)
            {
                error.Write("\r" + new string(' ', _width) + "\r");
                error.Flush();
                _width = 0;
            }
        }
    }
}
