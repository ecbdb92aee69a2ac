using System.Globalization;
using System.Text.Json;
using Polly;
using Polly.Retry;
using RollbackSentinel.Actions.Processes;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Actions.Kubectl;

/// <summary>
/// How the kubectl adapter runs kubectl: the command lines (names after <c>--</c>), reads retried with backoff when a
/// retry may cure them, writes run once. Shared by the undo, the abort and the history reader.
/// </summary>
internal sealed class KubectlCli(ICommandRunner runner, KubectlOptions options, TimeProvider time)
{
    /// <summary>The time format of <see cref="KubectlRollbackAction.RolledBackAtAnnotation"/>.</summary>
    public const string TimeFormat = "yyyy-MM-dd'T'HH:mm:ss'Z'";

    public KubectlOptions Options => options;

    /// <summary>
    /// <c>kubectl VERB FLAGS... -n NS --context=C --kubeconfig=K -- POSITIONAL...</c>: whatever the positional arguments
    /// hold (names rendered from series labels), kubectl cannot read them as flags.
    /// </summary>
    public CommandLine Command(Workload w, IEnumerable<string> verb, IEnumerable<string> flags, IEnumerable<string> positional)
    {
        var args = new List<string>(verb);
        args.AddRange(flags);
        if (w.Namespace is { } ns)
        {
            args.AddRange(["-n", ns]);
        }

        if (w.Context is { } context)
        {
            args.Add("--context=" + context);
        }

        if (w.Kubeconfig is { } kubeconfig)
        {
            args.Add("--kubeconfig=" + kubeconfig);
        }

        args.Add("--");
        args.AddRange(positional);
        return new CommandLine(options.Path, args);
    }

    public CommandLine Undo(Workload w, long revision) =>
        Command(w, ["rollout", "undo"], ["--to-revision=" + Num(revision)], [$"{w.Resource}/{w.Name}"]);

    /// <summary>Annotates <c>RESOURCE NAME</c> (the workload, or a Deployment's ReplicaSet) with the sentinel's markers.</summary>
    public CommandLine AnnotateObject(Workload w, string resource, string name, string hash, string key, DateTimeOffset at) =>
        Command(w, ["annotate"], ["--overwrite"], [resource, name, .. MarkerArguments(hash, key, at)]);

    public CommandLine Annotate(Workload w, string hash, string key, DateTimeOffset at) =>
        Command(w, ["annotate"], ["--overwrite"], [w.Resource, w.Name, .. MarkerArguments(hash, key, at)]);

    /// <summary>Annotates the workload itself with the sentinel's markers.</summary>
    public static string[] MarkerArguments(string hash, string key, DateTimeOffset at) =>
    [
        $"{KubectlRollbackAction.RolledBackToAnnotation}={hash}",
        $"{KubectlRollbackAction.RolledBackByAnnotation}={key}",
        $"{KubectlRollbackAction.RolledBackAtAnnotation}={at.UtcDateTime.ToString(TimeFormat, CultureInfo.InvariantCulture)}",
    ];

    public CommandLine RolloutStatus(Workload w, TimeSpan timeout) =>
        Command(w, ["rollout", "status"], ["--timeout=" + Num((long)Math.Ceiling(timeout.TotalSeconds)) + "s"], [$"{w.Resource}/{w.Name}"]);

    public CommandLine Abort(Workload w) =>
        Command(w, ["patch"], ["--type", "merge", "--subresource", "status", "-p", """{"status":{"abort":true}}"""], [w.Resource, w.Name]);

    /// <summary>
    /// Runs a read (<c>kubectl get ... -o json</c>), retried with backoff when it fails for a reason a retry may cure:
    /// a failed exit other than NotFound, Forbidden or Unauthorized, or a timeout.
    /// </summary>
    public async Task<JsonDocument> GetJsonAsync(Workload w, string what, string[] flags, string[] positional, CancellationToken ct)
    {
        var command = Command(w, ["get"], [.. flags, "-o", "json"], positional);
        CommandOutput output;
        try
        {
            output = await ReadPipeline().ExecuteAsync(async token => await ReadOnceAsync(command, token).ConfigureAwait(false), ct).ConfigureAwait(false);
        }
        catch (ReadTimedOutException e)
        {
            var attempts = Math.Max(1, options.ReadAttempts);
            throw new ActionFailedException(
                $"cannot read {what}: '{command}' did not finish within {PromDuration.Format(options.CommandTimeout)}{(attempts > 1 ? $" in {attempts} attempts" : "")} and was stopped", e);
        }

        if (!output.Succeeded)
        {
            throw new ActionFailedException($"cannot read {what}: '{command}' failed ({output.Reason})");
        }

        try
        {
            return JsonDocument.Parse(output.StandardOutput);
        }
        catch (JsonException e)
        {
            throw new ActionFailedException($"'{command}' printed something that is not JSON: {e.Message}", e);
        }
    }

    /// <summary>
    /// One read, under its own deadline: the runner reports its timeouts as an <see cref="ActionFailedException"/>
    /// like any other failure to run, so the deadline is kept here to know a timeout (retryable) for one.
    /// </summary>
    private async Task<CommandOutput> ReadOnceAsync(CommandLine command, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(options.CommandTimeout);
        try
        {
            // The runner's own timeout is only a backstop here.
            return await runner.RunAsync(command, options.CommandTimeout + TimeSpan.FromSeconds(10), deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (deadline.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            throw new ReadTimedOutException(e);
        }
    }

    private ResiliencePipeline<CommandOutput> ReadPipeline()
    {
        if (options.ReadAttempts <= 1)
        {
            return ResiliencePipeline<CommandOutput>.Empty;
        }

        return new ResiliencePipelineBuilder<CommandOutput> { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions<CommandOutput>
            {
                MaxRetryAttempts = options.ReadAttempts - 1,
                Delay = options.RetryBaseDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = options.RetryBaseDelay > TimeSpan.Zero,
                ShouldHandle = args => ValueTask.FromResult(args.Outcome switch
                {
                    { Exception: ReadTimedOutException } => true,
                    { Result: { Succeeded: false } failed } => IsRetryable(failed),
                    _ => false,
                }),
            })
            .Build();
    }

    /// <summary>NotFound, Forbidden and Unauthorized answers stay the same however often asked.</summary>
    private static bool IsRetryable(CommandOutput output) =>
        !(output.StandardError.Contains("(NotFound)", StringComparison.Ordinal)
          || output.StandardError.Contains("(Forbidden)", StringComparison.Ordinal)
          || output.StandardError.Contains("(Unauthorized)", StringComparison.Ordinal));

    /// <summary>Runs a command that changes the system (or waits on it) once; a timeout comes back as a failed output.</summary>
    public async Task<CommandOutput> RunWriteAsync(CommandLine command, CancellationToken ct, TimeSpan? timeout = null)
    {
        try
        {
            return await runner.RunAsync(command, timeout ?? options.CommandTimeout, ct).ConfigureAwait(false);
        }
        catch (ActionFailedException e) when (!ct.IsCancellationRequested)
        {
            return new CommandOutput(-1, "", e.Message);
        }
    }

    public static bool TryParseTime(string? text, out DateTimeOffset at) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out at);

    /// <summary>The last line kubectl wrote to stderr (or stdout), as it wrote it.</summary>
    public static string LastLine(CommandOutput output)
    {
        var text = (output.StandardError.Trim().Length > 0 ? output.StandardError : output.StandardOutput).Trim();
        var last = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
        return last.Length == 0 ? $"exit code {output.ExitCode}" : last.Length > 300 ? last[..300] + "..." : last;
    }

    public static string Num(long n) => n.ToString(CultureInfo.InvariantCulture);
}

/// <summary>A read that did not finish within the command timeout (retried; the adapter turns the last one into an <see cref="ActionFailedException"/>).</summary>
internal sealed class ReadTimedOutException(Exception inner) : Exception("a read timed out", inner);
