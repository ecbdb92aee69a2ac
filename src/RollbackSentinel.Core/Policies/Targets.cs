namespace RollbackSentinel.Core.Policies;

/// <summary>Where a rollback goes: exactly one adapter block per policy. Text fields may use label templates.</summary>
public abstract record Target
{
    /// <summary>The adapter name as written in the policy format.</summary>
    public abstract string Kind { get; }
}

/// <summary>POST the incident as JSON to <see cref="Url"/>, signed with HMAC-SHA256 when a secret is set.</summary>
public sealed record WebhookTarget(Template Url) : Target
{
    public override string Kind => "webhook";

    /// <summary>A file holding the signing secret (never the secret itself in git).</summary>
    public string? SecretFile { get; init; }

    public TimeSpan? Timeout { get; init; }

    /// <summary>
    /// What makes two deliveries "the same rollback" for the receiver, rendered with the series' labels (e.g.
    /// <c>{{ labels.deployment }}-{{ labels.version }}</c>). Set it when several sentinels guard the same thing:
    /// each decides on its own, and only a key they all compute alike lets the receiver act once. Unset, the key
    /// is per incident (stable across retries and restarts of one sentinel).
    /// </summary>
    public Template? IdempotencyKey { get; init; }
}

/// <summary>The Kubernetes workload kinds the kubectl adapter can roll back.</summary>
public enum WorkloadKind
{
    Deployment,
    StatefulSet,
    DaemonSet,

    /// <summary>An Argo Rollouts <c>Rollout</c>: aborted rather than undone.</summary>
    Rollout,
}

/// <summary><c>kubectl rollout undo</c> of a workload.</summary>
public sealed record KubectlTarget(WorkloadKind Workload, Template Name) : Target
{
    public override string Kind => "kubectl";

    public Template? Namespace { get; init; }

    public string? Context { get; init; }

    public string? Kubeconfig { get; init; }

    /// <summary>Pin the revision to return to; by default the one before the bad revision.</summary>
    public int? ToRevision { get; init; }

    /// <summary>How long to wait for the rolled-back rollout to complete (<c>kubectl rollout status --timeout</c>).</summary>
    public TimeSpan? Timeout { get; init; }
}

/// <summary><c>helm rollback</c> of a release to its last deployed revision before the bad one.</summary>
public sealed record HelmTarget(Template Release) : Target
{
    public override string Kind => "helm";

    public Template? Namespace { get; init; }

    public string? KubeContext { get; init; }

    public TimeSpan? Timeout { get; init; }
}

/// <summary>The administrative state the HAProxy adapter can put a server in (<c>set server B/S state ...</c>).</summary>
public enum HAProxyServerState
{
    /// <summary>Takes traffic.</summary>
    Ready,

    /// <summary>Finishes its connections, takes no new ones.</summary>
    Drain,

    /// <summary>Out of service.</summary>
    Maint,
}

/// <summary>
/// Switch weights (and optionally states) of servers in an HAProxy backend through its runtime API
/// (blue/green, canary). At least one server is named in <see cref="Weights"/> or <see cref="States"/>.
/// </summary>
public sealed record HAProxyTarget(Uri RuntimeApi, string Backend, IReadOnlyDictionary<string, int> Weights) : Target
{
    public override string Kind => "haproxy";

    /// <summary>Server name -> state to set on rollback (e.g. the bad color to <c>drain</c>).</summary>
    public IReadOnlyDictionary<string, HAProxyServerState> States { get; init; } = new Dictionary<string, HAProxyServerState>();

    /// <summary>How long one runtime API command may take.</summary>
    public TimeSpan? Timeout { get; init; }
}
