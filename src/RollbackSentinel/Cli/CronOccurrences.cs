using Quartz;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Cli;

/// <summary>Fire times of a Quartz cron schedule, in UTC, as the daemon's Quartz scheduler would produce them.</summary>
internal static class CronOccurrences
{
    public static IEnumerable<DateTimeOffset> Between(CronSchedule schedule, DateTimeOffset from, DateTimeOffset to)
    {
        var cron = new CronExpression(schedule.Expression, TimeZoneInfo.Utc);
        // Quartz fires on whole seconds and IsSatisfiedBy ignores the fraction: only a whole-second start can be a fire time.
        if (from.Ticks % TimeSpan.TicksPerSecond == 0 && cron.IsSatisfiedBy(from))
        {
            yield return from;
        }

        for (var next = cron.GetNextValidTimeAfter(from); next is { } t && t <= to; next = cron.GetNextValidTimeAfter(t))
        {
            yield return t;
        }
    }
}
