using System.Text;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Daemon;
using RollbackSentinel.Notifications.Slack;

namespace RollbackSentinel.Api;

/// <summary>
/// Slack's interactivity (<c>POST /slack/interactions</c>: the Approve / Deny / Snooze buttons) and slash command
/// (<c>POST /slack/commands</c>: <c>/sentinel status|rollback POLICY|ack INCIDENT</c>) endpoints. Every request is
/// verified with the app's signing secret (v0, timestamps older than 5 minutes refused) before anything is read;
/// the user must be one of the policy's approvers to approve, deny, snooze or roll back. Nothing changes on a refusal.
/// </summary>
internal static partial class SlackEndpoints
{
    /// <summary>Anonymous for the API token: each request is verified with Slack's signature instead.</summary>
    public static void MapSlackEndpoints(this WebApplication app)
    {
        app.MapPost("/slack/interactions", InteractionAsync).AllowAnonymous().WithBodyLimit(InputLimits.MaxSlackBody);
        app.MapPost("/slack/commands", CommandAsync).AllowAnonymous().WithBodyLimit(InputLimits.MaxSlackBody);
    }

    private static async Task<IResult> InteractionAsync(HttpContext context, IServiceProvider services, IIncidentStore store, PolicyRegistry registry, ConfirmationService confirmations, ILoggerFactory loggers, CancellationToken ct)
    {
        var (body, refusal) = await VerifiedBodyAsync(context, services, ct).ConfigureAwait(false);
        if (refusal is not null)
        {
            return refusal;
        }

        var logger = loggers.CreateLogger(typeof(SlackEndpoints));
        var parsed = SlackInteractions.ParseInteraction(body);
        if (!parsed.Ok)
        {
            LogRefused(logger, "interaction", parsed.Error ?? "malformed");
            return Results.Problem(title: "bad Slack payload", detail: parsed.Error, statusCode: StatusCodes.Status400BadRequest);
        }

        var answer = parsed.Value!;
        if (InputLimits.CheckName("user.name", answer.UserName) is { } tooLong)
        {
            LogRefused(logger, "interaction", tooLong);
            return Results.Problem(title: "bad Slack payload", detail: tooLong, statusCode: StatusCodes.Status400BadRequest);
        }

        if (await store.GetIncidentAsync(answer.IncidentId, ct).ConfigureAwait(false) is not { } timeline)
        {
            return Ephemeral($"There is no incident {answer.IncidentId}.");
        }

        var approvers = registry.Find(timeline.Incident.Policy)?.Policy.Confirm?.Approvers ?? [];
        var check = await services.GetRequiredService<SlackApprovers>().CheckAsync(answer.UserId, approvers, ct).ConfigureAwait(false);
        if (!check.Allowed)
        {
            LogRefused(logger, $"{answer.Answer} of incident {answer.IncidentId} by {answer.UserName} ({answer.UserId})", check.Reason);
            return Ephemeral($"You may not answer incident {answer.IncidentId}: {check.Reason}. Nothing was changed.");
        }

        var result = await confirmations.AnswerAsync(answer.IncidentId, answer.Answer, $"{answer.UserName} ({answer.UserId})", "slack", null, ct).ConfigureAwait(false);
        return Ephemeral(result.Message);
    }

    private static async Task<IResult> CommandAsync(HttpContext context, IServiceProvider services, IIncidentStore store, PolicyRegistry registry, ConfirmationService confirmations, ManualRollbacks manual, ILoggerFactory loggers, CancellationToken ct)
    {
        var (body, refusal) = await VerifiedBodyAsync(context, services, ct).ConfigureAwait(false);
        if (refusal is not null)
        {
            return refusal;
        }

        var parsed = SlackInteractions.ParseCommand(body);
        if (!parsed.Ok)
        {
            return Ephemeral(parsed.Error ?? SlackInteractions.Usage);
        }

        var command = parsed.Value!;
        if ((InputLimits.CheckName("user_name", command.UserName) ?? InputLimits.CheckName("text", command.Argument, InputLimits.MaxPolicyName)) is { } bad)
        {
            LogRefused(loggers.CreateLogger(typeof(SlackEndpoints)), "command", bad);
            return Results.Problem(title: "bad Slack command", detail: bad, statusCode: StatusCodes.Status400BadRequest);
        }

        var who = $"{command.UserName} ({command.UserId})";
        switch (command.Verb)
        {
            case "status":
                if (!await IsApproverOfAnyAsync(services, registry, command.UserId, ct).ConfigureAwait(false))
                {
                    return Ephemeral("Only approvers of a policy may see incidents here.");
                }

                var open = (await store.ListIncidentsAsync(null, 200, ct).ConfigureAwait(false))
                    .Where(i => i.Status is not (IncidentStatus.Resolved or IncidentStatus.Denied))
                    .Where(i => command.Argument is null || i.Policy == command.Argument)
                    .Take(20)
                    .Select(i => $"#{i.Id} {i.Policy}/{i.Trigger} {i.Labels}: {i.Status.ToString().ToLowerInvariant()}: {i.Summary}")
                    .ToList();
                return Ephemeral(open.Count == 0 ? "No open incidents." : string.Join("\n", open));

            case "ack":
                var ackId = long.Parse(command.Argument!, System.Globalization.CultureInfo.InvariantCulture);
                var ackPolicy = (await store.GetIncidentAsync(ackId, ct).ConfigureAwait(false))?.Incident.Policy;
                var ackCheck = await services.GetRequiredService<SlackApprovers>().CheckAsync(command.UserId, ackPolicy is null ? [] : registry.Find(ackPolicy)?.Policy.Confirm?.Approvers ?? [], ct).ConfigureAwait(false);
                if (!ackCheck.Allowed)
                {
                    return Ephemeral($"You may not answer incident {ackId}: {ackCheck.Reason}. Nothing was changed.");
                }

                var acked = await confirmations.AnswerAsync(ackId, Answers.Ack, who, "slack", null, ct).ConfigureAwait(false);
                return Ephemeral(acked.Message);

            case "rollback":
                var entry = registry.Find(command.Argument!);
                if (entry is null)
                {
                    return Ephemeral($"There is no policy '{command.Argument}'.");
                }

                var check = await services.GetRequiredService<SlackApprovers>().CheckAsync(command.UserId, entry.Policy.Confirm?.Approvers ?? [], ct).ConfigureAwait(false);
                if (!check.Allowed)
                {
                    LogRefused(loggers.CreateLogger(typeof(SlackEndpoints)), $"rollback of {entry.Policy.Name} by {who}", check.Reason);
                    return Ephemeral($"You may not roll back {entry.Policy.Name}: {check.Reason}. Nothing was changed.");
                }

                var started = await manual.StartAsync(entry.Policy.Name, Core.Metrics.LabelSet.Empty, who, "slack", "asked from Slack", ct).ConfigureAwait(false);
                return Ephemeral(started.Message);

            default:
                return Ephemeral(SlackInteractions.Usage);
        }
    }

    private static async Task<bool> IsApproverOfAnyAsync(IServiceProvider services, PolicyRegistry registry, string userId, CancellationToken ct)
    {
        var approvers = services.GetRequiredService<SlackApprovers>();
        foreach (var list in registry.Entries.Select(e => e.Policy.Confirm?.Approvers).OfType<IReadOnlyList<string>>().Where(l => l.Count > 0).Distinct())
        {
            if ((await approvers.CheckAsync(userId, list, ct).ConfigureAwait(false)).Allowed)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The raw body, once its signature checks out; otherwise a refusal (404 when Slack is not set up, 401 on a bad signature).</summary>
    private static async Task<(string Body, IResult? Refusal)> VerifiedBodyAsync(HttpContext context, IServiceProvider services, CancellationToken ct)
    {
        if (services.GetService<SlackRequestVerifier>() is not { } verifier)
        {
            return ("", Results.Problem(title: "Slack is not set up", detail: "set notifications:slack:signingSecretFile (and botTokenFile, channel)", statusCode: StatusCodes.Status404NotFound));
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await context.Request.Body.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > InputLimits.MaxSlackBody)
            {
                return ("", Results.Problem(title: "request body too large", detail: $"the body may be at most {InputLimits.MaxSlackBody} bytes", statusCode: StatusCodes.Status413PayloadTooLarge));
            }

            buffer.Write(chunk, 0, read);
        }

        var bytes = buffer.ToArray();
        var verification = verifier.Verify(
            context.Request.Headers[SlackRequestVerifier.TimestampHeader].ToString(),
            context.Request.Headers[SlackRequestVerifier.SignatureHeader].ToString(),
            bytes);
        if (!verification.Valid)
        {
            LogRefused(context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(SlackEndpoints)), "request", verification.Reason);
            return ("", Results.Problem(title: "bad Slack signature", detail: verification.Reason, statusCode: StatusCodes.Status401Unauthorized));
        }

        return (Encoding.UTF8.GetString(bytes), null);
    }

    private static IResult Ephemeral(string text) => Results.Json(new SlackEphemeralView("ephemeral", false, text), ApiJson.Answer<SlackEphemeralView>());

    [LoggerMessage(EventId = 705, Level = LogLevel.Warning, Message = "Slack {What} refused: {Reason}")]
    private static partial void LogRefused(ILogger logger, string what, string reason);
}
