using System.Text.Json;

namespace RollbackSentinel.Cli.Tests.Backtest;

/// <summary>One decision line of <c>backtest --format json</c> as the contract names it, with the value rounded for comparison.</summary>
internal sealed record BacktestDecision(string Policy, string Trigger, string At, string Action, double? Value, double? Threshold, string Labels)
{
    /// <summary>Every decision line the run printed on standard output.</summary>
    public static List<BacktestDecision> Read(CliRun run) => run.OutputLines.Select(line =>
    {
        using var doc = JsonDocument.Parse(line);
        var r = doc.RootElement;
        double? Num(string p) => r.GetProperty(p).ValueKind == JsonValueKind.Null ? null : Math.Round(r.GetProperty(p).GetDouble(), 6);
        return new BacktestDecision(
            r.GetProperty("policy").GetString()!,
            r.GetProperty("trigger").GetString()!,
            r.GetProperty("at").GetString()!,
            r.GetProperty("action").GetString()!,
            Num("value"),
            Num("threshold"),
            r.GetProperty("labels").GetRawText());
    }).ToList();
}
