using System.Collections.Immutable;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Core.State;

/// <summary>A trigger's phase for one series, as a Prometheus alert's: inactive, pending, firing.</summary>
public enum TriggerPhase
{
    Ok,
    Pending,
    Firing,
}

/// <summary>Identifies the state of one trigger for one label set.</summary>
public readonly record struct SeriesKey(string Trigger, LabelSet Labels)
{
    public override string ToString() => $"{Trigger}{Labels}";
}

/// <summary>The state of one trigger for one series. Only series that are not plain "ok" are kept.</summary>
public sealed record SeriesState
{
    public static readonly SeriesState Initial = new();

    public TriggerPhase Phase { get; init; } = TriggerPhase.Ok;

    /// <summary>When the current run of breaches began (pending and firing).</summary>
    public DateTimeOffset? BreachingSince { get; init; }

    public DateTimeOffset? FiringSince { get; init; }

    /// <summary>How many inconclusive or error evaluations in a row, and since when.</summary>
    public int NonConclusiveRun { get; init; }

    public DateTimeOffset? NonConclusiveSince { get; init; }

    /// <summary>How many evaluations in a row a firing series has been missing from its query's result.</summary>
    public int AbsentRun { get; init; }

    internal bool IsDefault => Phase == TriggerPhase.Ok && NonConclusiveRun == 0;
}

/// <summary>
/// Everything the state machine remembers about one policy between evaluations: per-series trigger state
/// and when each series last had an action. Immutable, so it can be stored and restored whole.
/// </summary>
public sealed record PolicyState
{
    public static readonly PolicyState Empty = new();

    public ImmutableDictionary<SeriesKey, SeriesState> Series { get; init; } = ImmutableDictionary<SeriesKey, SeriesState>.Empty;

    /// <summary>
    /// When a rollback last ran (or would have, in dry-run) per target identity (<see cref="Policies.TargetIdentity"/>):
    /// cooldown is counted from here.
    /// </summary>
    public ImmutableDictionary<string, DateTimeOffset> LastActionAt { get; init; } = ImmutableDictionary<string, DateTimeOffset>.Empty;

    /// <summary>When the policy was last evaluated: a longer gap than expected breaks every pending <c>for</c>.</summary>
    public DateTimeOffset? LastEvaluatedAt { get; init; }

    /// <summary>
    /// What each trigger meant when this state was written (<see cref="PolicyStateMachine.Fingerprint"/>), so
    /// state kept for a trigger that has since been edited is dropped instead of carried over.
    /// </summary>
    public ImmutableDictionary<string, string> Fingerprints { get; init; } = ImmutableDictionary<string, string>.Empty;

    /// <summary>
    /// For gates: per series evaluated at the last evaluation, its last verdict and how many passing evaluations in a
    /// row followed the latest change of its label set. Holds exactly the series of the last evaluation, so it stays bounded.
    /// </summary>
    public ImmutableDictionary<SeriesKey, GateProgress> Progress
    {
        get => Volatile.Read(ref _progress) ?? MakeProgress();
        init
        {
            // A state read from an older store may have none: none is the empty map (read as null, it would make the table).
            _progress = value ?? ImmutableDictionary<SeriesKey, GateProgress>.Empty;
            _gates = null;
        }
    }

    public SeriesState Get(SeriesKey key) => Series.TryGetValue(key, out var s) ? s : SeriesState.Initial;

    // The state machine keeps gate progress as a table (GateTable), not as the map: at most evaluations only the times move
    // (every entry's LastAt, a passing series' Passes by one), so the table of the previous state serves again as it is,
    // where the map was made anew, a record per series, at every evaluation. The map is made from it when first read.
    private ImmutableDictionary<SeriesKey, GateProgress>? _progress = ImmutableDictionary<SeriesKey, GateProgress>.Empty;
    private GateEntry[]? _gates;
    private long _gateOrdinal;
    private DateTimeOffset _gateAt;

    /// <summary>The state machine's table of gate progress (null: only the map, <see cref="Progress"/>).</summary>
    internal GateEntry[]? Gates => _gates;

    /// <summary>Which evaluation, counted by the state machine, wrote this state's <see cref="Gates"/>.</summary>
    internal long GateOrdinal => _gateOrdinal;

    /// <summary>
    /// The state after an evaluation at <paramref name="at"/> (one object): gate progress given as a table written by evaluation
    /// <paramref name="ordinal"/>, or none (null or empty).
    /// </summary>
    internal PolicyState Stepped(
        ImmutableDictionary<SeriesKey, SeriesState> series,
        ImmutableDictionary<string, DateTimeOffset> lastActionAt,
        ImmutableDictionary<string, string> fingerprints,
        DateTimeOffset at,
        GateEntry[]? gates,
        long ordinal) => this with
    {
        Series = series,
        LastActionAt = lastActionAt,
        LastEvaluatedAt = at,
        Fingerprints = fingerprints,
        _progress = gates is { Length: > 0 } ? null : ImmutableDictionary<SeriesKey, GateProgress>.Empty,
        _gates = gates is { Length: > 0 } ? gates : null,
        _gateOrdinal = ordinal,
        _gateAt = at,
    };

    /// <summary>A series' progress as of this state, from its table entry (what <see cref="Progress"/> holds for it).</summary>
    internal GateValue ValueOf(in GateEntry entry) => entry.At(_gateOrdinal);

    private ImmutableDictionary<SeriesKey, GateProgress> MakeProgress()
    {
        var gates = _gates!;
        var map = ImmutableDictionary.CreateBuilder<SeriesKey, GateProgress>();
        foreach (var entry in gates)
        {
            var v = entry.At(_gateOrdinal);
            map[entry.Key] = new GateProgress(v.Kind, _gateAt, v.Passes, v.ChangeAt, v.ChangeId);
        }

        var made = map.ToImmutable();
        return Interlocked.CompareExchange(ref _progress, made, null) ?? made;
    }

    /// <summary>
    /// States are equal when every part is the same object, as records compare dictionaries; gate progress kept as a
    /// table is the same when it is the same table, read at the same evaluation and time.
    /// </summary>
    public bool Equals(PolicyState? other) =>
        ReferenceEquals(this, other)
        || (other is not null
            && ReferenceEquals(Series, other.Series)
            && ReferenceEquals(LastActionAt, other.LastActionAt)
            && Nullable.Equals(LastEvaluatedAt, other.LastEvaluatedAt)
            && ReferenceEquals(Fingerprints, other.Fingerprints)
            && (_gates is null && other._gates is null
                ? ReferenceEquals(_progress, other._progress)
                : ReferenceEquals(_gates, other._gates) && _gateOrdinal == other._gateOrdinal && _gateAt == other._gateAt));

    public override int GetHashCode() => HashCode.Combine(Series, LastActionAt, LastEvaluatedAt, Fingerprints);

    /// <summary>
    /// This state made fit for <paramref name="policy"/>: series of triggers that were edited (or removed) since
    /// the state was written are dropped, so a changed <c>for</c> or action starts afresh.
    /// </summary>
    public PolicyState For(Policies.Policy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var current = policy.Triggers.ToDictionary(t => t.Name, PolicyStateMachine.Fingerprint, StringComparer.Ordinal);
        bool Stale(SeriesKey k) => !current.TryGetValue(k.Trigger, out var f) || (Fingerprints.TryGetValue(k.Trigger, out var old) && old != f);
        var stale = Series.Keys.Where(Stale).ToArray();
        var staleProgress = Progress.Keys.Where(Stale).ToArray();
        return stale.Length == 0 && staleProgress.Length == 0 ? this : this with { Series = Series.RemoveRange(stale), Progress = Progress.RemoveRange(staleProgress) };
    }
}

/// <summary>
/// What a gate needs to know of one series: its last verdict and when, and how many passing evaluations in a row
/// came after the latest change of its label set (<see cref="ChangeAt"/>, <see cref="ChangeId"/>; none: counted from
/// the first evaluation).
/// </summary>
public sealed record GateProgress(VerdictKind LastVerdict, DateTimeOffset LastAt, int Passes, DateTimeOffset? ChangeAt, long? ChangeId)
{
    /// <summary>Counting stops here: a gate never asks for more.</summary>
    public const int MaxPasses = 1000;

    /// <summary>
    /// Whether <see cref="Passes"/> were counted after <paramref name="change"/> (null: no change known). A stored change
    /// is matched by its id, so a time that lost precision on its way through a store still matches; changes not
    /// stored (id 0, as in the backtest) by their time.
    /// </summary>
    public bool CountsFrom(Changes.Change? change) => Counts(ChangeAt, ChangeId, change);

    internal static bool Counts(DateTimeOffset? changeAt, long? changeId, Changes.Change? change) => change is null
        ? changeAt is null
        : change.Id != 0 ? changeId == change.Id : (changeId is null or 0) && changeAt == change.At;
}

/// <summary>A series' gate progress without its time (<see cref="GateProgress"/> less <see cref="GateProgress.LastAt"/>).</summary>
internal readonly record struct GateValue(VerdictKind Kind, int Passes, DateTimeOffset? ChangeAt, long? ChangeId);

/// <summary>
/// One series' gate progress as the state machine keeps it: as written at evaluation <see cref="Ordinal"/>, and read at a
/// later one as if a pass had been counted at each evaluation since (for a pass; other verdicts count none). An entry is
/// kept only while that reading is exactly what the state machine would write (<see cref="At"/>).
/// </summary>
internal readonly record struct GateEntry(SeriesKey Key, GateValue Value, long Ordinal)
{
    public GateValue At(long ordinal) => Value.Kind == VerdictKind.Pass && ordinal > Ordinal
        ? Value with { Passes = (int)Math.Min(GateProgress.MaxPasses, Value.Passes + (ordinal - Ordinal)) }
        : Value;
}
