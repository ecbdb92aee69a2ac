namespace RollbackSentinel.Web.Plots;

/// <summary>One run of breaching samples, as a time span.</summary>
internal readonly record struct BreachSpan(DateTimeOffset From, DateTimeOffset To);

/// <summary>
/// Breach spans of one series, from its full-resolution samples (never the downsampled ones: a breach one sample wide
/// among thousands must still be shown).
/// </summary>
internal static class BreachSpans
{
    /// <summary>
    /// Each run of consecutive breaching samples is a span from the first breaching sample to the next sample after the
    /// run; a run that ends the series ends at its last sample plus the median sample spacing, but not after
    /// <paramref name="windowEnd"/>.
    /// </summary>
    public static IReadOnlyList<BreachSpan> Find(IReadOnlyList<PlotSample> samples, DateTimeOffset windowEnd)
    {
        List<BreachSpan>? spans = null;
        var start = -1;
        for (var i = 0; i < samples.Count; i++)
        {
            var breach = samples[i].Breach;
            if (breach && start < 0)
            {
                start = i;
            }
            else if (!breach && start >= 0)
            {
                (spans ??= []).Add(new BreachSpan(samples[start].At, samples[i].At));
                start = -1;
            }
        }

        if (start >= 0)
        {
            var last = samples[^1].At;
            var end = last + MedianSpacing(samples);
            if (end > windowEnd)
            {
                end = windowEnd < last ? last : windowEnd;
            }

            (spans ??= []).Add(new BreachSpan(samples[start].At, end));
        }

        return spans ?? (IReadOnlyList<BreachSpan>)[];
    }

    /// <summary>The median time between consecutive samples; zero for fewer than two.</summary>
    public static TimeSpan MedianSpacing(IReadOnlyList<PlotSample> samples)
    {
        if (samples.Count < 2)
        {
            return TimeSpan.Zero;
        }

        var gaps = new long[samples.Count - 1];
        for (var i = 1; i < samples.Count; i++)
        {
            gaps[i - 1] = (samples[i].At - samples[i - 1].At).Ticks;
        }

        Array.Sort(gaps);
        var mid = gaps.Length / 2;
        var median = gaps.Length % 2 == 1 ? gaps[mid] : (gaps[mid - 1] / 2) + (gaps[mid] / 2);
        return TimeSpan.FromTicks(Math.Max(0, median));
    }
}
