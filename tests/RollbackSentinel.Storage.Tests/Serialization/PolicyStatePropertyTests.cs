using System.Collections.Immutable;
using FsCheck;
using FsCheck.Fluent;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.State;
using RollbackSentinel.Storage.Serialization;
using RollbackSentinel.Storage.Tests.Support;

namespace RollbackSentinel.Storage.Tests.Serialization;

public sealed class PolicyStatePropertyTests
{
    private static readonly Gen<string> _text = Gen.Elements("a", "Z", "0", "\"", "\\", "\n", "\r", "\t", "\0", "\u2028", "ü", "日", "🚀", "{", "}", "=", ",", " ", "/", "'")
        .ArrayOf()
        .Select(parts => string.Concat(parts));

    private static readonly Gen<LabelSet> _labels = Gen.Elements("app", "deployment", "code", "le", "x y", "ü", "")
        .ArrayOf()
        .SelectMany(names => _text.ArrayOf(names.Length), (names, values) =>
            LabelSet.From(names.Zip(values).DistinctBy(p => p.First).Select(p => new KeyValuePair<string, string>(p.First, p.Second))));

    // Any tick within a few centuries of now, at any whole-minute offset a DateTimeOffset allows.
    private static readonly Gen<DateTimeOffset> _time =
        from ticks in Gen.Choose(int.MinValue, int.MaxValue).Select(t => (long)t * 49_999L)
        from offsetMinutes in Gen.Choose(-14 * 60, 14 * 60)
        select new DateTimeOffset(Samples.T0.Ticks + ticks, TimeSpan.FromMinutes(offsetMinutes));

    private static readonly Gen<DateTimeOffset?> _maybeTime = Gen.OneOf(Gen.Constant((DateTimeOffset?)null), _time.Select(t => (DateTimeOffset?)t));

    private static readonly Gen<SeriesState> _series =
        from phase in Gen.Elements(TriggerPhase.Ok, TriggerPhase.Pending, TriggerPhase.Firing)
        from breaching in _maybeTime
        from firing in _maybeTime
        from run in Gen.Choose(0, 10_000)
        from runSince in _maybeTime
        from absent in Gen.Choose(0, 10_000)
        select new SeriesState { Phase = phase, BreachingSince = breaching, FiringSince = firing, NonConclusiveRun = run, NonConclusiveSince = runSince, AbsentRun = absent };

    private static readonly Gen<PolicyState> _states =
        from series in (from trigger in _text from labels in _labels from state in _series select (Key: new SeriesKey(trigger, labels), State: state)).ArrayOf()
        from actions in (from target in _text from at in _time select (target, at)).ArrayOf()
        select new PolicyState
        {
            Series = series.DistinctBy(s => s.Key).ToImmutableDictionary(s => s.Key, s => s.State),
            LastActionAt = actions.DistinctBy(a => a.target).ToImmutableDictionary(a => a.target, a => a.at),
        };

    [Fact]
    public void RoundTrip_AnyState_IsExactAndStable()
    {
        Check.One(
            Config.QuickThrowOnFailure.WithMaxTest(300).WithReplay(new Replay(new Rnd(20_261_120UL, 11UL), Microsoft.FSharp.Core.FSharpOption<int>.None)),
            Prop.ForAll(
                _states.ToArbitrary(),
                state =>
                {
                    var json = PolicyStateJson.Serialize(state);
                    var back = PolicyStateJson.Deserialize(json);
                    StateAssert.Same(state, back);
                    Assert.Equal(json, PolicyStateJson.Serialize(back));
                }));
    }
}
