using System.CommandLine;
using RollbackSentinel.Actions;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Hosting;
using RollbackSentinel.Rules;

namespace RollbackSentinel.Cli;

/// <summary>
/// <c>plan &lt;paths&gt; --policy NAME [--label k=v]...</c>: what a rollback of that policy's target would do now,
/// read from the live target (revision history, server weights), without changing anything: the plan the
/// daemon would store, the state now and after, and the exact commands or requests. Exit 0 when a plan could
/// be made, 1 when the rules have errors, 2 for a bad command line, 3 when the target cannot be planned.
/// </summary>
internal static class PlanCommand
{
    public static Command Create()
    {
        var paths = new Argument<string[]>("paths") { Description = "Rule files or folders.", Arity = ArgumentArity.OneOrMore };
        var policy = new Option<string>("--policy") { Description = "The policy whose target to plan.", Required = true };
        var labels = new Option<string[]>("--label")
        {
            Description = "A series label the target's templates use, as name=value (repeatable), e.g. --label deployment=checkout.",
            AllowMultipleArgumentsPerToken = false,
        };
        var config = new Option<FileInfo?>("--config") { Description = "The daemon's settings (YAML), for the adapters' binaries and timeouts." };
        var command = new Command("plan", "Show what a rollback of a policy's target would do now, reading the target only (a dry-run from the terminal).")
        {
            paths, policy, labels, config,
        };

        command.SetAction(async (result, ct) =>
        {
            var output = result.InvocationConfiguration.Output;
            var error = result.InvocationConfiguration.Error;
            var rules = RuleSetLoader.Load(result.GetRequiredValue(paths));
            if (rules.HasErrors)
            {
                foreach (var d in rules.Errors)
                {
                    await error.WriteLineAsync(d.ToString()).ConfigureAwait(false);
                }

                return ExitCodes.InvalidRules;
            }

            var name = result.GetRequiredValue(policy);
            var chosen = rules.Policies.FirstOrDefault(p => p.Name == name);
            if (chosen is null)
            {
                await error.WriteLineAsync($"error: no policy named '{name}'; the rules have {(rules.Policies.Count == 0 ? "none" : string.Join(", ", rules.Policies.Select(p => p.Name)))}").ConfigureAwait(false);
                return ExitCodes.Usage;
            }

            var pairs = new List<(string, string)>();
            foreach (var label in result.GetValue(labels) ?? [])
            {
                var eq = label.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0)
                {
                    await error.WriteLineAsync($"error: --label '{label}' is not name=value").ConfigureAwait(false);
                    return ExitCodes.Usage;
                }

                pairs.Add((label[..eq], label[(eq + 1)..]));
            }

            SentinelOptions options;
            try
            {
                options = RunCommand.Load(result.GetValue(config)?.FullName, new Dictionary<string, string?>());
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or YamlDotNet.Core.YamlException or InvalidOperationException)
            {
                await error.WriteLineAsync($"error: cannot read the settings: {e.Message}").ConfigureAwait(false);
                return ExitCodes.Usage;
            }

            var services = new ServiceCollection();
            services.AddSingleton(TimeProvider.System);
            services.AddRollbackAdapters(options);
            await using var provider = services.BuildServiceProvider();
            var adapter = provider.GetServices<IRollbackAction>().Single(a => a.Kind == chosen.Target.Kind);

            var request = Request(chosen, LabelSet.Of([.. pairs]), TimeProvider.System.GetUtcNow());
            await output.WriteLineAsync($"policy {chosen.Name}{(chosen.Source is { } s ? $" ({s.File})" : "")}: {TargetIdentity.For(chosen, request.Labels)}").ConfigureAwait(false);
            ActionResult dryRun;
            ActionPlan plan;
            try
            {
                plan = await adapter.PlanAsync(request, ct).ConfigureAwait(false);
                dryRun = await adapter.ExecuteAsync(request, plan, dryRun: true, ct).ConfigureAwait(false);
            }
            catch (ActionFailedException e)
            {
                await error.WriteLineAsync($"error: cannot plan a rollback: {e.Message}").ConfigureAwait(false);
                return ExitCodes.BackendFailure;
            }

            if (!dryRun.Succeeded)
            {
                await error.WriteLineAsync($"error: cannot plan a rollback: {dryRun.Outcome}").ConfigureAwait(false);
                return ExitCodes.BackendFailure;
            }

            await output.WriteLineAsync($"plan:   {plan.Summary}").ConfigureAwait(false);
            await output.WriteLineAsync($"now:    {plan.Before ?? "-"}").ConfigureAwait(false);
            await output.WriteLineAsync($"after:  {plan.After ?? "-"}").ConfigureAwait(false);
            await output.WriteLineAsync(plan.Steps.Count == 0 ? "would run: nothing (already there)" : "would run:").ConfigureAwait(false);
            foreach (var step in plan.Steps)
            {
                await output.WriteLineAsync("  " + step).ConfigureAwait(false);
            }

            await output.WriteLineAsync("nothing was changed").ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>A request as the daemon would make it for a breach of this policy now, for these labels (no incident is opened).</summary>
    internal static RollbackRequest Request(Policy policy, LabelSet labels, DateTimeOffset now) =>
        RollbackRequest.For(policy, labels, "plan-" + policy.Name, now, new RollbackEvidence(policy.Triggers[0].Name, "rollback planned from the command line"));
}
