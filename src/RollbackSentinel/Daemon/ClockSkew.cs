using System.Globalization;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Hosting;

namespace RollbackSentinel.Daemon;

/// <summary>
/// This node's clock against the store's. Leases and claims are compared on the clock of the node that reads them, and
/// Quartz compares check-in times written by different nodes, so a node whose clock is off acts early or late: this
/// measures by how much, at every check-in (the store answers its clock in the same statement). The node's time is taken
/// before and after the round trip and the store's reading lies between them, so the skew is node (the midpoint) minus
/// store, give or take half the round trip. A warning is logged once when the skew surely exceeds <see cref="Threshold"/>
/// (beyond that uncertainty) and a notice once it is surely back under half of it, so a skew near the line does not log
/// at every check-in. On SQLite the store runs in this process, on its clock: the skew is 0 and nothing is measured.
/// </summary>
internal sealed partial class ClockSkew(SentinelOptions options, ILogger<ClockSkew> logger)
{
    /// <summary>The most skew tolerated without a warning (docs/ha.md, Clocks).</summary>
    public static readonly TimeSpan MaxThreshold = TimeSpan.FromSeconds(1);

    private readonly object _gate = new();
    private readonly bool _measured = options.Storage.UsesPostgres;
    private double? _seconds;
    private bool _over;

    /// <summary>
    /// 1 s, or a fifth of <c>cluster.checkinInterval</c> if that is less: Quartz takes a node for dead after about one
    /// interval of silence beyond its due check-in, judged on the reader's clock against the writer's, so the skew eats
    /// straight into that margin; 1 s is a fifth of the default interval and a sixtieth of the shortest lease (1 minute).
    /// </summary>
    public TimeSpan Threshold { get; } = TimeSpan.FromTicks(Math.Min(MaxThreshold.Ticks, options.CheckinIntervalValue.Ticks / 5));

    /// <summary>This node's clock minus the store's, in seconds, as last measured; 0 on SQLite; null before the first measurement.</summary>
    public double? Seconds
    {
        get
        {
            if (!_measured)
            {
                return 0;
            }

            lock (_gate)
            {
                return _seconds;
            }
        }
    }

    /// <summary>One reading of the store's clock (<paramref name="storeTime"/>) between <paramref name="sent"/> and <paramref name="received"/> on this node's.</summary>
    public void Measure(DateTimeOffset sent, DateTimeOffset storeTime, DateTimeOffset received)
    {
        if (!_measured)
        {
            return;
        }

        var roundTrip = received - sent;
        var midpoint = sent + (roundTrip / 2);
        var skew = (midpoint - storeTime).TotalSeconds;
        var uncertainty = Math.Max(0, roundTrip.TotalSeconds / 2);
        var threshold = Threshold.TotalSeconds;
        lock (_gate)
        {
            _seconds = Math.Round(skew, 6);
            if (!_over && Math.Abs(skew) - uncertainty > threshold)
            {
                _over = true;
                LogSkewed(Format(skew), uncertainty.ToString("0.000", CultureInfo.InvariantCulture), PromDuration.Format(Threshold));
            }
            else if (_over && Math.Abs(skew) + uncertainty < threshold / 2)
            {
                _over = false;
                LogInSync(Format(skew), PromDuration.Format(Threshold));
            }
        }
    }

    private static string Format(double seconds) => seconds.ToString("+0.000;-0.000;0.000", CultureInfo.InvariantCulture);

    [LoggerMessage(EventId = 1150, Level = LogLevel.Warning,
        Message = "This node's clock is {Skew}s off the store's (node minus database, ±{Uncertainty}s), more than {Threshold}: leases and claims are judged on each node's clock and Quartz takes nodes for dead by their check-in times, so a node acts early or holds on too long. Fix its time sync (NTP); rollback_sentinel_cluster_clock_skew_seconds follows it")]
    private partial void LogSkewed(string skew, string uncertainty, string threshold);

    [LoggerMessage(EventId = 1151, Level = LogLevel.Information, Message = "This node's clock is back in step with the store's: {Skew}s off (under half of {Threshold})")]
    private partial void LogInSync(string skew, string threshold);
}
