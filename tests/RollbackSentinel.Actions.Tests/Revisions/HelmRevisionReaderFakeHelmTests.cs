using RollbackSentinel.Actions.Helm;
using RollbackSentinel.Actions.Kubectl;
using RollbackSentinel.Actions.Revisions;
using RollbackSentinel.Actions.Tests.Helm;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;

namespace RollbackSentinel.Actions.Tests.Revisions;

/// <summary>
/// The Helm revision reader against <see cref="FakeHelm"/>, a stand-in that prints what Helm 3 documents for
/// <c>helm history -o json</c> (revision, updated as RFC3339Nano, status, chart, app_version, description).
/// </summary>
public sealed class HelmRevisionReaderFakeHelmTests : IDisposable
{
    private readonly FakeHelm _helm = new();

    public void Dispose() => _helm.Dispose();

    private ITargetRevisionReader Reader(out RecordingRunner runner)
    {
        runner = new RecordingRunner(_helm.Runner);
        return TargetRevisionReaders.Create(new KubectlRevisionReader(runner, KubectlOptions.Default), new HelmRevisionReader(runner, new HelmOptions { Path = _helm.Executable, CommandTimeout = TimeSpan.FromSeconds(20) }));
    }

    private static Policy Policy(string release = "shop", string? ns = "prod", string? context = "prod-eu") => new()
    {
        Name = "shop",
        Target = new HelmTarget(Template.Parse(release)) { Namespace = ns is null ? null : Template.Parse(ns), KubeContext = context },
        Schedule = new IntervalSchedule(TimeSpan.FromSeconds(15)),
        Triggers = [new Trigger { Name = "errors", Condition = new ThresholdCondition("q", ComparisonOperator.GreaterThan, 1) }],
    };

    [Fact]
    public async Task ReadAsync_Release_IsItsLatestRevisionWithUpdatedTimeChartAndAppVersion()
    {
        var updated = new DateTimeOffset(2026, 11, 20, 9, 45, 10, TimeSpan.Zero);
        _helm.Revision("shop", 4, "superseded", "shop-1.4.0", "Upgrade complete")
            .Revision("shop", 5, "deployed", "shop-1.5.0", "Upgrade complete", appVersion: "v42", updated: updated);

        var read = await Reader(out var runner).ReadAsync(Policy(), LabelSet.Empty, CancellationToken.None);

        Assert.NotNull(read);
        Assert.Equal("5 (shop-1.5.0)", read.Revision);
        Assert.Equal(updated.AddTicks(1234567), read.CreatedAt); // Helm's nanoseconds, cut to .NET's 100 ns
        Assert.Equal("release shop in prod: chart shop-1.5.0, app version v42", read.Description);
        var call = Assert.Single(runner.Commands);
        Assert.Equal([_helm.Executable, "history", "shop", "--namespace", "prod", "--kube-context", "prod-eu", "--max", "1", "-o", "json"], [call.FileName, .. call.Arguments]);
    }

    [Fact]
    public async Task ReadAsync_AfterAnUpgradeAndARollback_EachIsANewRevisionAndTheSameRevisionReadsTheSame()
    {
        _helm.Revision("shop", 1, "deployed", "shop-1.4.0", "Install complete");
        var reader = Reader(out var runner);

        var first = await reader.ReadAsync(Policy(), LabelSet.Empty, CancellationToken.None);
        var same = await reader.ReadAsync(Policy(), LabelSet.Empty, CancellationToken.None);
        _helm.Revision("shop", 2, "deployed", "shop-1.5.0", "Upgrade complete");
        var upgraded = await reader.ReadAsync(Policy(), LabelSet.Empty, CancellationToken.None);
        _helm.Revision("shop", 3, "deployed", "shop-1.4.0", "Rollback to 1");
        var rolledBack = await reader.ReadAsync(Policy(), LabelSet.Empty, CancellationToken.None);

        Assert.Equal("1 (shop-1.4.0)", first!.Revision);
        Assert.Equal(first, same);
        Assert.Equal("2 (shop-1.5.0)", upgraded!.Revision);
        Assert.Equal("3 (shop-1.4.0)", rolledBack!.Revision);
        Assert.Equal(4, runner.Commands.Count); // one helm per read
    }

    [Fact]
    public async Task ReadAsync_LatestRevisionFailed_IsStillTheRevisionAndSaysItFailed()
    {
        _helm.Revision("shop", 4, "deployed", "shop-1.4.0", "Upgrade complete")
            .Revision("shop", 5, "failed", "shop-1.5.0", "Upgrade \"shop\" failed: timed out waiting for the condition");

        var read = await Reader(out _).ReadAsync(Policy(ns: null, context: null), LabelSet.Empty, CancellationToken.None);

        Assert.Equal("5 (shop-1.5.0)", read!.Revision);
        Assert.Equal("release shop: chart shop-1.5.0, app version 1.5.0 (failed: Upgrade \"shop\" failed: timed out waiting for the condition)", read.Description);
    }

    [Fact]
    public async Task ReadAsync_TemplatedRelease_ReadsTheReleaseTheSeriesLabelsName()
    {
        _helm.Revision("cart", 7, "deployed", "cart-2.0.0", "Upgrade complete");

        var read = await Reader(out var runner).ReadAsync(Policy(release: "{{ labels.app }}"), LabelSet.Of(("app", "cart"), ("code", "500")), CancellationToken.None);

        Assert.Equal("7 (cart-2.0.0)", read!.Revision);
        Assert.Equal("cart", Assert.Single(runner.Commands).Arguments[1]);
    }

    [Fact]
    public async Task ReadAsync_HelmFails_ThrowsWithItsReasonAndDoesNotRetry()
    {
        _helm.Fail("history", "Kubernetes cluster unreachable");

        var e = await Assert.ThrowsAsync<ActionFailedException>(() => Reader(out var runner).ReadAsync(Policy(), LabelSet.Empty, CancellationToken.None).AsTask());

        Assert.Contains("cannot read release shop", e.Message, StringComparison.Ordinal);
        Assert.Contains("Kubernetes cluster unreachable", e.Message, StringComparison.Ordinal);
        Assert.Single(_helm.CallsOf("history"));
    }

    [Fact]
    public async Task ReadAsync_UnknownRelease_Throws()
    {
        var e = await Assert.ThrowsAsync<ActionFailedException>(() => Reader(out _).ReadAsync(Policy(release: "nope"), LabelSet.Empty, CancellationToken.None).AsTask());

        Assert.Contains("release: not found", e.Message, StringComparison.Ordinal);
    }
}
