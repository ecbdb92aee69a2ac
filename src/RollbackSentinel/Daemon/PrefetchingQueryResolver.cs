using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Daemon;

/// <summary>
/// Starts the deciding queries of a policy's evaluation all at once, as soon as the evaluation time is known, so the
/// evaluation waits for the slowest query rather than for the sum of them (an <c>errorRate</c> trigger alone has two),
/// and they run while the detect query and the store's change history are read. The engine still asks for them one after
/// the other (<see cref="PolicyEvaluator"/>) and is handed each query already under way. What is not started here goes
/// to the resolver given to <see cref="Then"/>: a query asked for at another time, an informational one (read only when
/// its trigger does not pass), and a before-deploy baseline, which needs the change history. The same spec in two
/// triggers is queried once: at one instant it has one answer.
/// </summary>
/// <remarks>
/// Detection is the scrape, the wait for the evaluation's slot, its queries and the action; a Prometheus alert rule
/// asks for its ratio in one query, and one query at a time cost the sentinel a round trip more per query
/// (bench/README.md, "Detection against Prometheus + Alertmanager"). Disposing cancels what is still running (an
/// evaluation that failed part-way); queries nobody awaited are observed here, so none ends as an unobserved exception.
/// </remarks>
internal sealed class PrefetchingQueryResolver : IQueryResolver, IDisposable
{
    private readonly DateTimeOffset _at;
    private readonly Dictionary<QuerySpec, Task<QueryOutcome>> _started;
    private readonly CancellationTokenSource? _cancel;
    private readonly IQueryResolver _rest;

    private PrefetchingQueryResolver(DateTimeOffset at, Dictionary<QuerySpec, Task<QueryOutcome>> started, CancellationTokenSource? cancel, IQueryResolver rest)
    {
        _at = at;
        _started = started;
        _cancel = cancel;
        _rest = rest;
    }

    /// <summary>How many queries were started ahead (distinct deciding specs of the policy's triggers).</summary>
    public int Started => _started.Count;

    /// <summary>
    /// Starts the deciding queries of every trigger of <paramref name="policy"/> at <paramref name="at"/> through
    /// <paramref name="inner"/> now (before-deploy baselines excepted). Until <see cref="Then"/>, the rest goes to
    /// <paramref name="inner"/> too.
    /// </summary>
    public static PrefetchingQueryResolver Start(Policy policy, IQueryResolver inner, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(inner);
        var cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var started = new Dictionary<QuerySpec, Task<QueryOutcome>>();
        foreach (var trigger in policy.Triggers)
        {
            foreach (var spec in QuerySpec.For(trigger.Condition))
            {
                if (!spec.Informational && spec.Time is not BeforeDeployQueryTime && !started.ContainsKey(spec))
                {
                    var query = inner.ResolveAsync(spec, at, cancel.Token).AsTask();
                    _ = query.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                    started.Add(spec, query);
                }
            }
        }

        return new PrefetchingQueryResolver(at, started, cancel, inner);
    }

    /// <summary>The same started queries, with whatever was not started sent to <paramref name="rest"/>.</summary>
    public PrefetchingQueryResolver Then(IQueryResolver rest)
    {
        ArgumentNullException.ThrowIfNull(rest);
        return new PrefetchingQueryResolver(_at, _started, cancel: null, rest);
    }

    public ValueTask<QueryOutcome> ResolveAsync(QuerySpec spec, DateTimeOffset at, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return at == _at && _started.TryGetValue(spec, out var query)
            ? new ValueTask<QueryOutcome>(query)
            : _rest.ResolveAsync(spec, at, cancellationToken);
    }

    public void Dispose()
    {
        if (_cancel is null)
        {
            return;
        }

        _cancel.Cancel();
        _cancel.Dispose();
    }
}
