using RollbackSentinel.Actions.Processes;

namespace RollbackSentinel.Actions.Tests.Revisions;

/// <summary>Runs commands through another runner and keeps every command line and how long it took (to count and time reads).</summary>
internal sealed class RecordingRunner(ICommandRunner inner) : ICommandRunner
{
    private readonly List<(CommandLine Command, TimeSpan Took)> _runs = [];

    public IReadOnlyList<CommandLine> Commands
    {
        get
        {
            lock (_runs)
            {
                return [.. _runs.Select(r => r.Command)];
            }
        }
    }

    public IReadOnlyList<TimeSpan> Durations
    {
        get
        {
            lock (_runs)
            {
                return [.. _runs.Select(r => r.Took)];
            }
        }
    }

    public async Task<CommandOutput> RunAsync(CommandLine command, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            return await inner.RunAsync(command, timeout, cancellationToken);
        }
        finally
        {
            lock (_runs)
            {
                _runs.Add((command, System.Diagnostics.Stopwatch.GetElapsedTime(started)));
            }
        }
    }
}
