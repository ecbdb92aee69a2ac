using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using RollbackSentinel.Telemetry;

namespace RollbackSentinel.Cli.Tests.Telemetry;

/// <summary><c>promtool check metrics</c> parses the exposition and lints names, units, help and types.</summary>
public sealed class PromtoolCheckMetricsTests
{
    private static readonly TimeSpan PromtoolTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task CheckMetrics_SentinelMetrics_ParsesAndPassesTheLint()
    {
        await using var services = new ServiceCollection().AddSentinelTelemetry().BuildServiceProvider();
        ExpositionSamples.RecordEveryFamily(services.GetRequiredService<SentinelMetrics>());
        var text = Exposition.Collect(services);

        var (exitCode, output) = await PromtoolAsync(text);

        Assert.True(exitCode == 0 && output.Length == 0, $"promtool exit code {exitCode}: {output}\n--- exposition:\n{text}");
        Assert.Contains("rollback_sentinel_trigger_value{policy=\"checkout\",series=\"{app=\\\"checkout\\\"}\",trigger=\"latency\"} NaN\n", text);
    }

    [Fact]
    public async Task CheckMetrics_IsNotVacuous_ABrokenExpositionFails()
    {
        var (exitCode, output) = await PromtoolAsync("# TYPE broken counter\nbroken{a=\"unterminated} 1\n");

        Assert.NotEqual(0, exitCode);
        Assert.Contains("error", output, StringComparison.OrdinalIgnoreCase);
    }

    private static async Task<(int ExitCode, string Output)> PromtoolAsync(string exposition)
    {
        using var timeout = new CancellationTokenSource(PromtoolTimeout);
        var info = new ProcessStartInfo("promtool")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.ArgumentList.Add("check");
        info.ArgumentList.Add("metrics");
        using var process = Process.Start(info) ?? throw new InvalidOperationException("promtool did not start.");
        var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.StandardInput.WriteAsync(exposition.AsMemory(), timeout.Token);
        process.StandardInput.Close();
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, ((await stdout) + (await stderr)).Trim());
    }
}
