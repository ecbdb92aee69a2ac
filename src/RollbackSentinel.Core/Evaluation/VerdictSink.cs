using static RollbackSentinel.Core.Evaluation.TriggerEvaluator;

namespace RollbackSentinel.Core.Evaluation;

/// <summary>
/// One trigger's verdicts at one evaluation, as <see cref="TriggerEvaluator"/> writes them, with the outcomes their
/// evidence is written from when first read.
/// </summary>
/// <remarks>
/// A sink that does not reuse (the daemon's, an observed backtest's) serves one evaluation and makes new verdicts. One that
/// reuses (a backtest replaying one policy) keeps its verdicts, its list and its evidence index, and writes them again
/// at the next evaluation: an evaluation then makes nothing for its verdicts. What the state machine keeps of a reused
/// verdict (a decision's, a transition's) is a copy with its evidence written (<see cref="Verdict.Detached"/>).
/// </remarks>
internal sealed class VerdictSink(bool reuse)
{
    private readonly List<Verdict> _verdicts = [];

    // Reusing: the verdicts this sink owns (the first _used of them written at this evaluation), and its index.
    private List<Verdict>? _owned;
    private int _used;
    private EvidenceIndex? _index;
    private bool _indexCurrent;
    private IReadOnlyDictionary<string, QueryOutcome>? _outcomes;
    private bool _noDataBreach;

    /// <summary>The verdicts of the current evaluation (until the next one, when reusing).</summary>
    public IReadOnlyList<Verdict> Verdicts => _verdicts;

    /// <summary>Starts an evaluation with these outcomes (read when evidence is first asked for; copied then).</summary>
    /// <param name="noDataBreach">The trigger counts no data as a breach (<c>noData: breach</c>).</param>
    public void Begin(IReadOnlyDictionary<string, QueryOutcome> outcomes, bool noDataBreach)
    {
        // Again for the same evaluation (its informational queries resolved): what the first pass wrote is dropped.
        _verdicts.Clear();
        _used = 0;
        _outcomes = outcomes;
        _indexCurrent = false;
        _noDataBreach = noDataBreach;
    }

    /// <summary>Adds a verdict made from <paramref name="data"/>, its evidence pending.</summary>
    public void Add(in VerdictData data)
    {
        var counted = _noDataBreach && data.Kind == VerdictKind.Inconclusive && IsNoData(data.Reason)
            ? data with { Kind = VerdictKind.Breach, NoDataCountedAsBreach = true, Summary = data.Summary + CountedAsBreach }
            : data;
        if (!reuse)
        {
            _verdicts.Add(Verdict.Make(counted, Evidence()));
            return;
        }

        var owned = _owned ??= [];
        if (_used == owned.Count)
        {
            owned.Add(Verdict.Reused());
        }

        var verdict = owned[_used++];
        verdict.Rewrite(counted, Evidence());
        _verdicts.Add(verdict);
    }

    /// <summary>Adds a verdict made whole elsewhere (a burn rate's, a failed query's): kept as it is.</summary>
    public void Add(Verdict verdict) => _verdicts.Add(_noDataBreach ? ApplyNoDataBreach(verdict) : verdict);

    /// <summary>This evaluation's outcomes as an evidence index: made (or, reusing, written again) when first asked for.</summary>
    private EvidenceIndex Evidence()
    {
        if (_indexCurrent)
        {
            return _index!;
        }

        var outcomes = _outcomes ?? throw new InvalidOperationException("no evaluation has begun");
        if (reuse && _index is not null)
        {
            _index.Reset(outcomes);
        }
        else
        {
            _index = new EvidenceIndex(outcomes);
        }

        _indexCurrent = true;
        return _index;
    }
}
