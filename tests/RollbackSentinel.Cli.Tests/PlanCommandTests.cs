using RollbackSentinel.Testing.HAProxy;

namespace RollbackSentinel.Cli.Tests;

/// <summary><c>rollback-sentinel plan</c> against a real HAProxy: it reads the target, prints the plan and the exact commands, and changes nothing.</summary>
public sealed class PlanCommandTests
{
    private static string HAProxyPolicy(Uri runtimeApi) =>
        $"apiVersion: rollback-sentinel/v1\nkind: RollbackPolicy\nmetadata:\n  name: storefront\nspec:\n  target:\n    haproxy:\n      runtimeApi: {runtimeApi}\n      backend: shop\n      weights:\n        blue: 100\n        green: 0\n" +
        "  triggers:\n    - name: errors\n      threshold:\n        query: vector(1)\n        op: \">\"\n        value: 0\n      action: rollback\n";

    [Fact]
    public async Task Plan_HAProxyTarget_PrintsThePlanAndCommandsAndChangesNothing()
    {
        await using var blueGreen = await BlueGreenSetup.StartAsync(blueWeight: 0, greenWeight: 100);
        var haproxy = blueGreen.HAProxy;
        using var rules = new RulesFolder(("storefront.yaml", HAProxyPolicy(haproxy.RuntimeApi!)));
        var stateBefore = await haproxy.SendCommandAsync("show servers state shop", CancellationToken.None);

        var run = await CliRun.RunAsync("plan", rules.Path, "--policy", "storefront");

        Assert.True(run.ExitCode == 0, run.Error);
        Assert.Equal(
            [
                $"policy storefront ({Path.Combine(rules.Path, "storefront.yaml")}): haproxy/{haproxy.RuntimeApi!.ToString().TrimEnd('/')}/shop",
                "plan:   switch backend shop to blue=100 green=0",
                "now:    backend shop: blue weight 0 ready, green weight 100 ready",
                "after:  backend shop: blue weight 100 ready, green weight 0 ready",
                "would run:",
                "set weight shop/blue 100",
                "set weight shop/green 0",
                "nothing was changed",
            ],
            run.OutputLines);
        Assert.Equal(StripTimes(stateBefore), StripTimes(await haproxy.SendCommandAsync("show servers state shop", CancellationToken.None)));
        Assert.Equal("green", await blueGreen.ColorAsync());
    }

    [Fact]
    public async Task Plan_TargetThatCannotBePlanned_Exits3WithTheReason()
    {
        var missing = new Uri("unix://" + Path.Combine(Path.GetTempPath(), $"no-such-{Guid.NewGuid():N}.sock"));
        using var rules = new RulesFolder(("storefront.yaml", HAProxyPolicy(missing)));

        var run = await CliRun.RunAsync("plan", rules.Path, "--policy", "storefront");

        Assert.Equal(3, run.ExitCode);
        Assert.StartsWith("error: cannot plan a rollback: ", run.Error, StringComparison.Ordinal);
        Assert.Contains(missing.AbsolutePath, run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plan_UnknownPolicyOrBadLabel_IsAUsageError()
    {
        using var rules = new RulesFolder(("storefront.yaml", HAProxyPolicy(new Uri("tcp://127.0.0.1:1"))));

        var unknown = await CliRun.RunAsync("plan", rules.Path, "--policy", "checkout");
        var badLabel = await CliRun.RunAsync("plan", rules.Path, "--policy", "storefront", "--label", "deployment");

        Assert.Equal((2, "error: no policy named 'checkout'; the rules have storefront\n"), (unknown.ExitCode, unknown.Error));
        Assert.Equal((2, "error: --label 'deployment' is not name=value\n"), (badLabel.ExitCode, badLabel.Error));
    }

    // Column 10 of 'show servers state' is the seconds since the last change, which moves on by itself.
    private static string StripTimes(string state) =>
        string.Join('\n', state.Split('\n').Select(l => l.StartsWith('#') || !l.Contains(' ', StringComparison.Ordinal) ? l : string.Join(' ', l.Split(' ').Where((_, i) => i != 9))));
}
