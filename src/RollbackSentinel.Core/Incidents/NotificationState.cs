using System.Globalization;

namespace RollbackSentinel.Core.Incidents;

/// <summary>
/// What a channel has seen of an incident (stored as <see cref="NotificationRecord.State"/>): the notice's kind, plus
/// what else changes the message within a kind (who answered, until when it is snoozed), so a second snooze or an
/// answer after a timeout is shown too. A channel is told again when the state it last showed differs.
/// </summary>
/// <remarks>
/// One serialisation (<see cref="Format"/>), the one stored since notifications were kept: <c>{Kind}|{AnsweredBy}|{deadline's UTC ticks}</c>,
/// e.g. <c>Snoozed|snoozed by alice via slack|639004140000000000</c> or <c>Paged||</c>. Kept as is so that the states
/// stored by earlier versions compare equal and no open incident is published again after an upgrade.
/// </remarks>
public sealed record NotificationState
{
    /// <param name="kind">The notice kind's name (e.g. <c>AwaitingConfirmation</c>): not empty, no <c>|</c>.</param>
    /// <param name="answeredBy">Who answered, as the notice says it (empty is none: it is stored the same).</param>
    /// <param name="answerDeadline">Until when an answer is awaited (compared, and stored, to the tick, as an instant).</param>
    /// <exception cref="ArgumentException">An empty kind, or one with a <c>|</c>.</exception>
    public NotificationState(string kind, string? answeredBy, DateTimeOffset? answerDeadline)
    {
        ArgumentException.ThrowIfNullOrEmpty(kind);
        if (kind.Contains('|', StringComparison.Ordinal))
        {
            throw new ArgumentException($"A notice kind cannot hold '|': {kind}", nameof(kind));
        }

        Kind = kind;
        AnsweredBy = string.IsNullOrEmpty(answeredBy) ? null : answeredBy;
        AnswerDeadline = answerDeadline;
    }

    public string Kind { get; }

    public string? AnsweredBy { get; }

    public DateTimeOffset? AnswerDeadline { get; }

    /// <summary>The stored form: <c>{Kind}|{AnsweredBy}|{AnswerDeadline's UTC ticks}</c>, an absent value empty.</summary>
    public string Format() =>
        string.Create(CultureInfo.InvariantCulture, $"{Kind}|{AnsweredBy}|{AnswerDeadline?.UtcTicks}");

    /// <summary>
    /// The state <paramref name="stored"/> says (<see cref="Format"/>), or null when it cannot be read (no kind, a
    /// missing separator, a deadline that is not a tick count): a state that cannot be read differs from every state,
    /// so the channel is told again rather than the dispatcher stopping.
    /// </summary>
    /// <remarks>Who answered may hold a <c>|</c> (a reason): the kind ends at the first one, the deadline starts after the last.</remarks>
    public static NotificationState? Parse(string? stored)
    {
        if (stored is null)
        {
            return null;
        }

        var first = stored.IndexOf('|', StringComparison.Ordinal);
        var last = stored.LastIndexOf('|');
        if (first <= 0 || last == first)
        {
            return null;
        }

        var ticks = stored[(last + 1)..];
        DateTimeOffset? deadline = null;
        if (ticks.Length > 0)
        {
            if (!long.TryParse(ticks, NumberStyles.None, CultureInfo.InvariantCulture, out var t)
                || t < DateTimeOffset.MinValue.UtcTicks
                || t > DateTimeOffset.MaxValue.UtcTicks)
            {
                return null;
            }

            deadline = new DateTimeOffset(t, TimeSpan.Zero);
        }

        return new NotificationState(stored[..first], stored[(first + 1)..last], deadline);
    }

    /// <inheritdoc cref="Format"/>
    public override string ToString() => Format();
}
