using System.Diagnostics.Tracing;

namespace RollbackSentinel.Benchmarks;

/// <summary>
/// <c>--allocations [policies]</c>: one <see cref="EngineBenchmarks.BacktestOneDay"/> after a warm-up, with the bytes
/// allocated per policy evaluation and the runtime's allocation samples (one per ~100 KB) by type: where the garbage is.
/// </summary>
internal static class AllocationProfile
{
    public static async Task RunAsync(int policies)
    {
        var bench = new EngineBenchmarks { Policies = policies };
        bench.Setup();
        await bench.BacktestOneDay().ConfigureAwait(false);

        using var listener = new AllocationListener();
        var before = GC.GetTotalAllocatedBytes(precise: true);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var result = await bench.BacktestOneDay().ConfigureAwait(false);
        var elapsed = clock.Elapsed;
        var bytes = GC.GetTotalAllocatedBytes(precise: true) - before;
        var evaluations = result.Summaries.Sum(s => s.Evaluations);
        Console.WriteLine($"{policies} policies, {evaluations} evaluations: {bytes / 1e6:0.0} MB, {(double)bytes / evaluations:0} bytes per policy evaluation, {elapsed.TotalMilliseconds:0} ms (one run, allocation sampling on)");
        foreach (var (type, amount) in listener.ByType.OrderByDescending(t => t.Value).Take(30))
        {
            Console.WriteLine($"{amount / 1e6,10:0.0} MB  {type}");
        }
    }

    private sealed class AllocationListener : EventListener
    {
        public Dictionary<string, long> ByType { get; } = [];

        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
            {
                EnableEvents(eventSource, EventLevel.Verbose, (EventKeywords)0x1);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs e)
        {
            if (e.EventName != "GCAllocationTick_V4" || e.Payload is null)
            {
                return;
            }

            var type = e.Payload[e.PayloadNames!.IndexOf("TypeName")] as string ?? "?";
            var amount = Convert.ToInt64(e.Payload[e.PayloadNames.IndexOf("AllocationAmount64")], System.Globalization.CultureInfo.InvariantCulture);
            lock (ByType)
            {
                ByType[type] = ByType.GetValueOrDefault(type) + amount;
            }
        }
    }
}
