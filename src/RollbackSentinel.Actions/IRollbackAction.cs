using System.Text.Json;
using System.Text.Json.Serialization;

namespace RollbackSentinel.Actions;

/// <summary>
/// What a rollback of one incident means, resolved once, when the incident is decided, and stored with its
/// action: the revision or weights to return to and the state seen then. Every later run for the incident
/// (a retry, a restart, a second sentinel sharing the store) acts toward this same plan, never re-resolves it.
/// </summary>
/// <param name="Summary">One line a human reads: what will be done, from what to what.</param>
public sealed record ActionPlan(string Summary)
{

    /// <summary>The commands or requests that change the system, exactly as they will run (dry-run prints these).</summary>
    public IReadOnlyList<string> Steps { get; init; } = [];

    /// <summary>The state seen when planning ("revision 3, image shop:1.4", "blue=0 green=100").</summary>
    public string? Before { get; init; }

    /// <summary>The state the action moves to, as verification will read it.</summary>
    public string? After { get; init; }

    /// <summary>Adapter-specific values the execution needs (revision numbers, template hashes, weights).</summary>
    public IReadOnlyDictionary<string, string> Facts { get; init; } = new Dictionary<string, string>();

    public string ToJson() => JsonSerializer.Serialize(this, ActionPlanJsonContext.Default.ActionPlan);

    public static ActionPlan FromJson(string json) =>
        JsonSerializer.Deserialize(json, ActionPlanJsonContext.Default.ActionPlan) ?? throw new JsonException("an action plan cannot be null");

    /// <summary>A fact the adapter stored when planning; a missing one means the stored plan is not this adapter's.</summary>
    public string Fact(string name) =>
        Facts.TryGetValue(name, out var value) ? value : throw new ActionFailedException($"the stored plan has no '{name}': it was not made by this adapter");
}

/// <summary>What running an action did to the system.</summary>
public enum ActionEffect
{
    /// <summary>It changed the system (and verified the result).</summary>
    Changed,

    /// <summary>The system already was where the plan leads: nothing was changed (a second run, another sentinel).</summary>
    Unchanged,

    /// <summary>Dry-run: only read, and said what it would do.</summary>
    DryRun,

    Failed,
}

/// <summary>What an adapter did: what changed (from what to what), or why not.</summary>
public sealed record ActionResult(ActionEffect Effect, string Outcome)
{
    public bool Succeeded => Effect != ActionEffect.Failed;

    /// <summary>The state before acting, as read.</summary>
    public string? Before { get; init; }

    /// <summary>The state after acting, as read back (verification).</summary>
    public string? After { get; init; }

    public static ActionResult Changed(string outcome, string? before, string? after) => new(ActionEffect.Changed, outcome) { Before = before, After = after };

    public static ActionResult Unchanged(string outcome, string? state) => new(ActionEffect.Unchanged, outcome) { Before = state, After = state };

    public static ActionResult DryRun(ActionPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var steps = plan.Steps.Count == 0 ? "nothing to change" : string.Join("; ", plan.Steps);
        return new(ActionEffect.DryRun, $"dry-run: would {plan.Summary}: {steps}") { Before = plan.Before, After = plan.Before };
    }

    public static ActionResult Failure(string reason, string? before = null) => new(ActionEffect.Failed, reason) { Before = before };
}

/// <summary>A failure an adapter explains in words an operator can act on (the message is shown as is).</summary>
public sealed class ActionFailedException : Exception
{
    public ActionFailedException(string message)
        : base(message)
    {
    }

    public ActionFailedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public ActionFailedException()
    {
    }
}

/// <summary>
/// One way of rolling back (kubectl, Helm, HAProxy, webhook). Running it twice for the same incident must
/// change the system once: <see cref="ExecuteAsync"/> first reads where the target is, and does nothing when
/// it is already where the plan leads.
/// </summary>
public interface IRollbackAction
{
    /// <summary>The target kind it handles, as written in policies (<c>webhook</c>, <c>kubectl</c>, ...).</summary>
    string Kind { get; }

    /// <summary>
    /// Reads only: decides what rolling back means for this incident (the revision or weights to return to) and
    /// what would run. Throws <see cref="ActionFailedException"/> when it cannot (no earlier revision, unknown server).
    /// </summary>
    Task<ActionPlan> PlanAsync(RollbackRequest request, CancellationToken cancellationToken);

    /// <summary>
    /// Moves the target to where <paramref name="plan"/> leads, unless it is there already, then verifies.
    /// With <paramref name="dryRun"/> it reads only and returns <see cref="ActionResult.DryRun"/>. Retries only
    /// steps that are safe to repeat; expected failures come back as <see cref="ActionEffect.Failed"/> with the reason.
    /// </summary>
    Task<ActionResult> ExecuteAsync(RollbackRequest request, ActionPlan plan, bool dryRun, CancellationToken cancellationToken);
}

/// <summary>How an <see cref="ActionPlan"/> is stored: web names, nulls left out; metadata made at compile time (docs/aot.md).</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ActionPlan))]
internal sealed partial class ActionPlanJsonContext : JsonSerializerContext;
