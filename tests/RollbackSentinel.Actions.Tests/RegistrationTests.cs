using Microsoft.Extensions.DependencyInjection;
using RollbackSentinel.Actions.HAProxy;
using RollbackSentinel.Actions.Helm;
using RollbackSentinel.Actions.Kubectl;
using RollbackSentinel.Actions.Processes;
using RollbackSentinel.Actions.Revisions;
using RollbackSentinel.Actions.Webhook;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Testing.Net;
using RollbackSentinel.Testing.Time;

namespace RollbackSentinel.Actions.Tests;

/// <summary>Each adapter's AddXxx(): resolved by its interface, with the options it was given.</summary>
public sealed class RegistrationTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 20, 10, 0, 0, TimeSpan.Zero);

    private static Policy PolicyWith(Target target) => new()
    {
        Name = "shop",
        Target = target,
        Schedule = new IntervalSchedule(TimeSpan.FromSeconds(15)),
        Triggers = [new Trigger { Name = "errors", Condition = new ThresholdCondition("q", ComparisonOperator.GreaterThan, 1) }],
    };

    private static RollbackRequest Request(Target target, LabelSet? labels = null) =>
        RollbackRequest.For(PolicyWith(target), labels ?? LabelSet.Empty, "rs-key-1", T0, new RollbackEvidence("errors", "value 2 > 1")) with { IncidentId = 7 };

    private static ServiceCollection Services(ICommandRunner? runner = null)
    {
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(new ManualTimeProvider(T0));
        if (runner is not null)
        {
            services.AddSingleton(runner);
        }

        return services;
    }

    [Fact]
    public async Task AddKubectlRollback_WithOptions_ResolvesTheKubectlAdapterRunningTheGivenProgramThroughTheRegisteredRunner()
    {
        var runner = new NotFoundRunner();
        await using var provider = Services(runner).AddKubectlRollback(new KubectlOptions { Path = "/opt/kubectl", ReadAttempts = 1 }).BuildServiceProvider();

        var adapter = Assert.Single(provider.GetServices<IRollbackAction>());
        Assert.Equal("kubectl", adapter.Kind);
        Assert.IsType<KubectlRollbackAction>(adapter);
        var failed = await Assert.ThrowsAsync<ActionFailedException>(() =>
            adapter.PlanAsync(Request(new KubectlTarget(WorkloadKind.Deployment, Template.Parse("checkout")) { Namespace = Template.Parse("shop") }), CancellationToken.None));

        var command = Assert.Single(runner.Commands);
        Assert.Equal("/opt/kubectl get -o json -n shop -- deployment checkout", command.ToString());
        Assert.Equal($"cannot read deployment/checkout in shop: '{command}' failed ({runner.Output.Reason})", failed.Message);
    }

    [Fact]
    public async Task AddHelmRollback_WithOptions_ResolvesTheHelmAdapterRunningTheGivenProgram()
    {
        var runner = new NotFoundRunner();
        await using var provider = Services(runner).AddHelmRollback(new HelmOptions { Path = "/opt/helm", RetryBaseDelay = TimeSpan.Zero }).BuildServiceProvider();

        var adapter = Assert.Single(provider.GetServices<IRollbackAction>());
        Assert.Equal("helm", adapter.Kind);
        Assert.IsType<HelmRollbackAction>(adapter);
        await Assert.ThrowsAsync<ActionFailedException>(() => adapter.PlanAsync(Request(new HelmTarget(Template.Parse("shop"))), CancellationToken.None));

        Assert.NotEmpty(runner.Commands);
        Assert.All(runner.Commands, c => Assert.Equal("/opt/helm", c.FileName));
    }

    [Fact]
    public async Task AddTargetRevisionReader_AfterKubectlAndHelm_ReadsKubectlTargetsWithTheirOptionsAndOtherKindsAsNone()
    {
        var runner = new NotFoundRunner();
        await using var provider = Services(runner)
            .AddKubectlRollback(new KubectlOptions { Path = "/opt/kubectl" })
            .AddHelmRollback(new HelmOptions { Path = "/opt/helm" })
            .AddTargetRevisionReader()
            .BuildServiceProvider();

        var reader = provider.GetRequiredService<ITargetRevisionReader>();
        Assert.Equal(["kubectl", "helm"], provider.GetServices<IRevisionReader>().Select(r => r.Kind));
        Assert.Null(await reader.ReadAsync(PolicyWith(new WebhookTarget(Template.Parse("https://deploy.example.com/rollback"))), LabelSet.Empty, CancellationToken.None));
        Assert.Null(await reader.ReadAsync(PolicyWith(new KubectlTarget(WorkloadKind.Rollout, Template.Parse("checkout"))), LabelSet.Empty, CancellationToken.None));
        Assert.Empty(runner.Commands);

        await Assert.ThrowsAsync<ActionFailedException>(async () =>
            await reader.ReadAsync(PolicyWith(new KubectlTarget(WorkloadKind.Deployment, Template.Parse("checkout"))), LabelSet.Empty, CancellationToken.None));
        Assert.Equal("/opt/kubectl", Assert.Single(runner.Commands).FileName);
    }

    [Fact]
    public async Task AddKubectlRollback_NoRunnerRegistered_RegistersTheProcessRunnerOnce()
    {
        await using var provider = Services().AddKubectlRollback().AddHelmRollback().BuildServiceProvider();

        Assert.IsType<ProcessCommandRunner>(Assert.Single(provider.GetServices<ICommandRunner>()));
        Assert.Equal(["kubectl", "helm"], provider.GetServices<IRollbackAction>().Select(a => a.Kind));
    }

    [Fact]
    public async Task AddHAProxyRollback_Default_ResolvesTheHAProxyAdapter()
    {
        await using var provider = Services().AddHAProxyRollback().BuildServiceProvider();

        var adapter = Assert.Single(provider.GetServices<IRollbackAction>());
        Assert.Equal("haproxy", adapter.Kind);
        Assert.IsType<HAProxyRollbackAction>(adapter);
    }

    [Fact]
    public async Task AddWebhookRollback_WithRetry_PostsThroughItsOwnClientWithThatRetryAndNoRedirects()
    {
        await using var receiver = LoopbackHttpServer.Start((r, _) => Task.FromResult(r.PathAndQuery == "/moved"
            ? new CannedResponse(302, "") { Headers = new Dictionary<string, string> { ["Location"] = "/elsewhere" } }
            : new CannedResponse(503, "")));
        await using var provider = Services().AddWebhookRollback(new WebhookRetry(2, TimeSpan.Zero)).BuildServiceProvider();

        var adapter = Assert.Single(provider.GetServices<IRollbackAction>());
        Assert.Equal("webhook", adapter.Kind);
        Assert.IsType<WebhookRollbackAction>(adapter);

        var unavailable = Request(new WebhookTarget(Template.Parse(new Uri(receiver.BaseAddress, "rollback").ToString())));
        var result = await adapter.ExecuteAsync(unavailable, await adapter.PlanAsync(unavailable, CancellationToken.None), dryRun: false, CancellationToken.None);
        Assert.Equal($"webhook {receiver.BaseAddress}rollback answered HTTP 503 (after 2 attempts)", result.Outcome);

        var moved = Request(new WebhookTarget(Template.Parse(new Uri(receiver.BaseAddress, "moved").ToString())));
        result = await adapter.ExecuteAsync(moved, await adapter.PlanAsync(moved, CancellationToken.None), dryRun: false, CancellationToken.None);
        Assert.Equal($"webhook {receiver.BaseAddress}moved answered HTTP 302 (a redirect, not followed: point the target at the final URL)", result.Outcome);
        Assert.DoesNotContain(receiver.Requests, r => r.PathAndQuery == "/elsewhere");
    }

    /// <summary>Answers every command as kubectl and helm answer for an object that does not exist, and keeps the commands.</summary>
    private sealed class NotFoundRunner : ICommandRunner
    {
        private readonly List<CommandLine> _commands = [];

        public CommandOutput Output { get; } = new(1, "", "Error from server (NotFound): not found");

        public IReadOnlyList<CommandLine> Commands
        {
            get
            {
                lock (_commands)
                {
                    return [.. _commands];
                }
            }
        }

        public Task<CommandOutput> RunAsync(CommandLine command, TimeSpan timeout, CancellationToken cancellationToken)
        {
            lock (_commands)
            {
                _commands.Add(command);
            }

            return Task.FromResult(Output);
        }
    }
}
