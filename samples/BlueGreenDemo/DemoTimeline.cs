using System.Globalization;
using System.Text;

namespace BlueGreenDemo;

/// <summary>The requests through HAProxy that started in one phase of the demo.</summary>
public sealed record PhaseStats(string Name, string Meaning, DateTimeOffset From, DateTimeOffset To, int Requests, int Failed, int Blue, int Green)
{
    public double ErrorRate => Requests == 0 ? 0 : (double)Failed / Requests;

    public static PhaseStats Of(string name, string meaning, DateTimeOffset from, DateTimeOffset to, IEnumerable<RequestRecord> requests)
    {
        var inPhase = requests.Where(r => r.Start >= from && r.Start < to).ToArray();
        return new PhaseStats(
            name, meaning, from, to, inPhase.Length, inPhase.Count(r => r.Failed),
            inPhase.Count(r => r.Color == "blue"), inPhase.Count(r => r.Color == "green"));
    }
}

/// <summary>
/// What happened, when, relative to the start of the demo. The sentinel's instants come from its API (the
/// incident's evidence, the incident and its action); the demo's from its own clock; both read the same
/// machine's wall clock.
/// </summary>
public sealed record DemoTimeline
{
    /// <summary>Timestamps in the sentinel's API have millisecond resolution (truncated).</summary>
    public static readonly TimeSpan SentinelTimestampResolution = TimeSpan.FromMilliseconds(1);

    public required DateTimeOffset Start { get; init; }

    public required DateTimeOffset Ready { get; init; }

    /// <summary>When the sentinel recorded the canary as a change (<c>at</c> of the change it answered POST /api/v1/changes with).</summary>
    public required DateTimeOffset ChangeRecorded { get; init; }

    /// <summary>The change, e.g. <c>change 1: blue -> green by demo (canary: 25% of the traffic to green)</c>.</summary>
    public required string Change { get; init; }

    /// <summary>The policy's <c>watch.for</c>: how long the change arms its rollback triggers.</summary>
    public required TimeSpan WatchFor { get; init; }

    /// <summary>When the demo first saw the policy's gate answer open, and the answer.</summary>
    public required DateTimeOffset GateOpened { get; init; }

    public required string GateOpenAnswer { get; init; }

    /// <summary>When the demo first saw the gate answer closed after green went bad, and the answer (with its reasons).</summary>
    public required DateTimeOffset GateClosed { get; init; }

    public required string GateClosedAnswer { get; init; }

    /// <summary>The change the incident blames, as the sentinel says it (<c>changeSummary</c>).</summary>
    public required string Blames { get; init; }

    /// <summary>Traffic split for the canary (e.g. blue=75 green=25).</summary>
    public required DateTimeOffset CanaryAt { get; init; }

    public required string CanaryWeights { get; init; }

    /// <summary>When the demo saw the sentinel's first passing evaluation of the error trigger under canary traffic.</summary>
    public required DateTimeOffset FirstPassSeen { get; init; }

    /// <summary>When the demo asked green to fail (the admin request was sent).</summary>
    public required DateTimeOffset GreenWentBad { get; init; }

    public required string Fault { get; init; }

    /// <summary>
    /// "The breach": the first breaching evaluation of the run that fired, as the sentinel reports it (the trigger's
    /// pending-since, <c>since</c> in the incident's evidence).
    /// </summary>
    public required DateTimeOffset BreachFirstSeen { get; init; }

    /// <summary>The evaluation at which the trigger fired (<c>decidedAt</c> in the evidence).</summary>
    public required DateTimeOffset Fired { get; init; }

    public required long IncidentId { get; init; }

    public required string Trigger { get; init; }

    public required DateTimeOffset IncidentOpened { get; init; }

    public required DateTimeOffset ActionStarted { get; init; }

    /// <summary>The action completed: HAProxy has the rollback weights, read back (<c>completedAt</c> of the action).</summary>
    public required DateTimeOffset TrafficMoved { get; init; }

    public required string ActionStatus { get; init; }

    public required string ActionBefore { get; init; }

    public required string ActionAfter { get; init; }

    /// <summary>HAProxy's weights read by the demo after the action (<c>show servers state</c>).</summary>
    public required string ServersAfter { get; init; }

    public required DateTimeOffset End { get; init; }

    public required PhaseStats Before { get; init; }

    public required PhaseStats During { get; init; }

    public required PhaseStats After { get; init; }

    /// <summary>Failed requests that were in flight at the switch (started before it, ended after it).</summary>
    public required IReadOnlyList<RequestRecord> FailedInFlightAtSwitch { get; init; }

    /// <summary>Failed requests that started after the switch (should be none).</summary>
    public required IReadOnlyList<RequestRecord> FailedStartedAfterSwitch { get; init; }

    /// <summary>The policy's <c>for + 2 × interval + scrape interval</c>.</summary>
    public required TimeSpan Budget { get; init; }

    public required string BudgetExplained { get; init; }

    /// <summary>Traffic moved − green went bad.</summary>
    public TimeSpan DetectionDelay => TrafficMoved - GreenWentBad;

    /// <summary>Traffic moved − the breach (the first breaching evaluation).</summary>
    public TimeSpan BreachToTrafficMoved => TrafficMoved - BreachFirstSeen;

    /// <summary>The first instant a request can be said to have started after the switch.</summary>
    public DateTimeOffset SwitchedBy => TrafficMoved + SentinelTimestampResolution;

    public string Format()
    {
        string R(DateTimeOffset t) => DemoClock.Format(t - Start).PadLeft(9);
        static string S(TimeSpan d) => d.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture) + "s";
        static string P(double share) => (share * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%";
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Timeline (relative to the start of the demo, +0.000s = {Start.UtcDateTime:yyyy-MM-dd HH:mm:ss.fff}Z)");
        // In the order things happened: the gate's answers come from polling, so they interleave with the sentinel's instants.
        var events = new List<(DateTimeOffset At, int Order, string Text)>
        {
            (Ready, 0, "everything up: DemoShop blue and green, HAProxy (blue=100 green=0), Prometheus, the sentinel, load through HAProxy"),
            (ChangeRecorded, 1, $"change recorded through POST /api/v1/changes: {Change}; it arms the rollback triggers for {RollbackSentinel.Core.Policies.PromDuration.Format(WatchFor)}"),
            (CanaryAt, 2, $"canary: HAProxy weights set to {CanaryWeights}"),
            (FirstPassSeen, 3, $"the sentinel passes green (first passing evaluation of {Trigger} seen)"),
            (GateOpened, 4, $"gate opened: {GateOpenAnswer}"),
            (GreenWentBad, 5, $"green went bad: {Fault}"),
            (BreachFirstSeen, 6, $"breach first seen: the sentinel's first breaching evaluation of {Trigger} (pending since)"),
            (GateClosed, 7, $"gate closed: {GateClosedAnswer}"),
            (Fired, 8, $"trigger fired (breaching for {S(Fired - BreachFirstSeen)})"),
            (IncidentOpened, 9, $"incident {IncidentId} opened, blaming the change: {Blames}"),
            (ActionStarted, 10, "rollback action started"),
            (TrafficMoved, 11, $"traffic moved: action {ActionStatus}, {ActionAfter}"),
            (End, 12, "load stopped"),
        };
        foreach (var (at, _, text) in events.OrderBy(e => e.At).ThenBy(e => e.Order))
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {R(at)}  {text}");
        }

        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Detection delay (traffic moved - green went bad): {S(DetectionDelay)}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"Breach -> traffic moved: {S(BreachToTrafficMoved)} (fired after {S(Fired - BreachFirstSeen)}, action took {S(TrafficMoved - ActionStarted)}); budget {BudgetExplained} = {S(Budget)}");
        sb.AppendLine(CultureInfo.InvariantCulture, $"HAProxy: before the action {ActionBefore}; after it {ActionAfter}; read by the demo: {ServersAfter}");
        sb.AppendLine();
        sb.AppendLine("Requests through HAProxy, by the phase they started in:");
        foreach (var p in new[] { Before, During, After })
        {
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"  {p.Name,-7} {R(p.From)} .. {R(p.To)}  {p.Meaning,-26} {p.Requests,5} requests, {p.Failed,4} failed ({P(p.ErrorRate),6})   blue {p.Blue,5}  green {p.Green,5}");
        }

        sb.AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"Failed after the switch: {FailedInFlightAtSwitch.Count} in flight at the switch (started before it), {FailedStartedAfterSwitch.Count} started after it");
        foreach (var r in FailedInFlightAtSwitch.Take(10).Concat(FailedStartedAfterSwitch.Take(10)))
        {
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"  request #{r.Number}: {R(r.Start)} .. {R(r.End)}  {(r.Status == 0 ? "no answer" : "HTTP " + r.Status.ToString(CultureInfo.InvariantCulture))} from {r.Color ?? "?"}{(r.Error is null ? "" : " (" + r.Error + ")")}");
        }

        return sb.ToString();
    }
}
