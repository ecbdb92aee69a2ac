using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging.Abstractions;
using RollbackSentinel.Actions.Helm;
using RollbackSentinel.Actions.Kubectl;
using RollbackSentinel.Actions.Processes;
using RollbackSentinel.Actions.Revisions;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Daemon;
using RollbackSentinel.Telemetry;
using RollbackSentinel.Testing.Kubernetes;
using RollbackSentinel.Testing.Time;
using Xunit.Abstractions;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// What target change detection costs (bench/README.md): processes per minute per rendered target at the default
/// interval (30s), counted through <see cref="ICommandRunner"/> over ten minutes of fake time with the detector asked
/// every second, as <see cref="ChangeDetectionService"/> does. kubectl is the real one against the emulator; helm is a
/// stand-in that prints Helm 3's documented <c>helm history -o json</c>. The counts are asserted; the times are printed.
/// </summary>
public sealed class TargetChangeCostTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 20, 10, 0, 0, TimeSpan.Zero);
    private readonly string _dir = Directory.CreateTempSubdirectory("target-cost-").FullName;
    private KubernetesApiEmulator _emulator = null!;

    public async Task InitializeAsync() => _emulator = await KubernetesApiEmulator.StartAsync();

    public async Task DisposeAsync()
    {
        await _emulator.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    private static Policy Policy(string name, Target target) => new()
    {
        Name = name,
        Target = target,
        Schedule = new IntervalSchedule(TimeSpan.FromSeconds(15)),
        Triggers = [new Trigger { Name = "errors", Condition = new ThresholdCondition("q", ComparisonOperator.GreaterThan, 1) }],
    };

    [Fact]
    public async Task DetectAsync_TenMinutesAtTheDefaultInterval_RunsFourKubectlAndTwoHelmProcessesAMinutePerTarget()
    {
        _emulator.AddDeployment("shop", "checkout", ["shop:1.4", "shop:1.5"]);
        var kubeconfig = _emulator.WriteKubeconfig(_dir);
        var runner = new CountingRunner(new ProcessCommandRunner(new Dictionary<string, string?> { ["HOME"] = _dir, ["KUBECONFIG"] = kubeconfig }));
        var clock = new ManualTimeProvider(T0);
        using var metrics = new SentinelMetrics();
        var reader = TargetRevisionReaders.Create(new KubectlRevisionReader(runner, new KubectlOptions { Path = "/usr/bin/kubectl" }), new HelmRevisionReader(runner, new HelmOptions { Path = CountingRunner.Helm }));
        var changes = new TargetChanges(reader, new InMemoryChangeStore(), metrics, clock, NullLogger<TargetChanges>.Instance);
        var kubectl = Policy("checkout", new KubectlTarget(WorkloadKind.Deployment, Template.Parse("checkout")) { Namespace = Template.Parse("shop"), Context = _emulator.ContextName, Kubeconfig = kubeconfig });
        var kubectlToo = Policy("checkout-latency", kubectl.Target); // a second policy on the same Deployment shares its reads
        var helm = Policy("shop", new HelmTarget(Template.Parse("shop")) { Namespace = Template.Parse("shop") });
        Assert.Equal(DetectSettings.DefaultInterval, kubectl.Watch.Detect.Interval);

        var minutes = 10;
        for (var second = 0; second < minutes * 60; second++)
        {
            await changes.DetectAsync(kubectl, LabelSet.Empty, CancellationToken.None);
            await changes.DetectAsync(kubectlToo, LabelSet.Empty, CancellationToken.None);
            await changes.DetectAsync(helm, LabelSet.Empty, CancellationToken.None);
            clock.Advance(TimeSpan.FromSeconds(1));
        }

        var kubectlRuns = runner.Runs.Where(r => r.Command.FileName == "/usr/bin/kubectl").ToList();
        var helmRuns = runner.Runs.Where(r => r.Command.FileName == CountingRunner.Helm).ToList();
        Assert.Equal(4 * minutes, kubectlRuns.Count);
        Assert.Equal(2 * minutes, helmRuns.Count);
        Assert.All(kubectlRuns, r => Assert.Equal("get", r.Command.Arguments[0]));
        var ms = kubectlRuns.Select(r => r.Took.TotalMilliseconds).Order().ToArray();
        var reads = kubectlRuns.Chunk(2).Select(p => p.Sum(r => r.Took.TotalMilliseconds)).Order().ToArray();
        output.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"kubectl: {kubectlRuns.Count} processes in {minutes} min ({kubectlRuns.Count / (double)minutes} a minute) for one Deployment read by 2 policies; one process median {ms[ms.Length / 2]:F0} ms, max {ms[^1]:F0} ms; one read (2 processes) median {reads[reads.Length / 2]:F0} ms, max {reads[^1]:F0} ms"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"helm: {helmRuns.Count} processes in {minutes} min ({helmRuns.Count / (double)minutes} a minute) for one release"));
    }

    /// <summary>Counts and times every process; answers helm's history with a canned Helm 3 JSON line instead of running it.</summary>
    private sealed class CountingRunner(ICommandRunner inner) : ICommandRunner
    {
        public const string Helm = "helm-stand-in";

        public List<(CommandLine Command, TimeSpan Took)> Runs { get; } = [];

        public async Task<CommandOutput> RunAsync(CommandLine command, TimeSpan timeout, CancellationToken cancellationToken)
        {
            var started = Stopwatch.GetTimestamp();
            var result = command.FileName == Helm
                ? new CommandOutput(0, """[{"revision":5,"updated":"2026-11-20T09:05:00.123456789Z","status":"deployed","chart":"shop-1.5.0","app_version":"1.5.0","description":"Upgrade complete"}]""", "")
                : await inner.RunAsync(command, timeout, cancellationToken);
            Runs.Add((command, Stopwatch.GetElapsedTime(started)));
            return result;
        }
    }
}
