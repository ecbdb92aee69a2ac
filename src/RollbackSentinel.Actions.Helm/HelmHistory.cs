using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using RollbackSentinel.Core.Evaluation;

namespace RollbackSentinel.Actions.Helm;

/// <summary>One revision of a release, as <c>helm history RELEASE -o json</c> prints it (Helm 3).</summary>
internal sealed partial record HelmRevision
{
    /// <summary>What Helm writes as the description of a revision made by <c>helm rollback RELEASE N</c>.</summary>
    public const string RollbackPrefix = "Rollback to ";

    [JsonPropertyName("revision")]
    public int Revision { get; init; }

    /// <summary>When Helm last deployed it, RFC 3339 with nanoseconds and the offset of the machine that ran helm.</summary>
    [JsonPropertyName("updated")]
    public string? Updated { get; init; }

    [JsonPropertyName("status")]
    public string Status { get; init; } = "";

    [JsonPropertyName("chart")]
    public string Chart { get; init; } = "";

    [JsonPropertyName("app_version")]
    public string? AppVersion { get; init; }

    [JsonPropertyName("description")]
    public string Description { get; init; } = "";

    public bool IsDeployed => Status == "deployed";

    public bool IsFailed => Status == "failed";

    /// <summary>Deployed successfully at some point: the current revision, or one a later deploy replaced.</summary>
    public bool WasDeployed => Status is "deployed" or "superseded";

    public bool IsPending => Status.StartsWith("pending-", StringComparison.Ordinal);

    public bool IsRollback => Description.StartsWith(RollbackPrefix, StringComparison.Ordinal);

    /// <summary>
    /// A failed revision made by <c>helm rollback</c>. Helm keeps "Rollback to N" only when the rollback failed before
    /// applying anything; when applying failed it writes <c>Rollback "NAME" failed: ...</c>, and when waiting failed
    /// <c>Release "NAME" failed: ...</c> (which <c>helm install</c> also writes, but an install is never newer than a
    /// deployed revision, and reading too much into it only means a human is asked to look).
    /// </summary>
    public bool IsFailedRollback =>
        IsFailed
        && (IsRollback
            || Description.StartsWith("Rollback \"", StringComparison.Ordinal)
            || Description.StartsWith("Release \"", StringComparison.Ordinal));

    /// <summary>The revision a rollback returned to (from "Rollback to N"), if this is one.</summary>
    public int? RolledBackTo =>
        IsRollback && int.TryParse(Description.AsSpan(RollbackPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;

    /// <summary><see cref="Updated"/> as a point in time; null when missing or not RFC 3339.</summary>
    public DateTimeOffset? UpdatedAt => ParseTime(Updated);

    /// <summary>When it was deployed, as outcomes name it (RFC 3339 in UTC, or the text as Helm printed it).</summary>
    public string When => UpdatedAt is { } t ? Rfc3339.Format(t) : Updated is { Length: > 0 } u ? u : "an unknown time";

    /// <summary>
    /// How outcomes name it: <c>revision 5 (shop-1.5.0)</c>, <c>revision 6 = rollback to 3 (shop-1.4.0)</c>,
    /// <c>revision 6 (shop-1.6.0, failed)</c>.
    /// </summary>
    public override string ToString()
    {
        var chart = IsFailed ? $"{Chart}, failed" : Chart;
        return RolledBackTo is { } to ? $"revision {Revision} = rollback to {to} ({chart})" : $"revision {Revision} ({chart})";
    }

    /// <summary>
    /// Helm's <c>updated</c>: Go's RFC3339Nano (<c>2026-11-20T10:30:00.123456789Z</c>, <c>...+01:00</c>, trailing zeros of
    /// the fraction dropped). .NET keeps 7 fractional digits, so the rest is cut before parsing.
    /// </summary>
    internal static DateTimeOffset? ParseTime(string? text)
    {
        if (text is null)
        {
            return null;
        }

        var trimmed = Nanoseconds().Replace(text.Trim(), "$1");
        return Rfc3339.TryParse(trimmed, out var value) ? value : null;
    }

    [GeneratedRegex(@"(\.\d{7})\d+")]
    private static partial Regex Nanoseconds();
}

/// <summary>A release's history, oldest first, and what the adapter reads from it.</summary>
internal sealed class HelmHistory
{
    private HelmHistory(IReadOnlyList<HelmRevision> revisions) => Revisions = revisions;

    public IReadOnlyList<HelmRevision> Revisions { get; }

    public HelmRevision? Latest => Revisions.Count == 0 ? null : Revisions[^1];

    public static HelmHistory Parse(string json, string command)
    {
        List<HelmRevision>? revisions;
        try
        {
            revisions = JsonSerializer.Deserialize(json.Trim().Length == 0 ? "[]" : json, HelmJsonContext.Default.ListHelmRevision);
        }
        catch (JsonException e)
        {
            throw new ActionFailedException($"'{command}' did not print Helm 3's history as JSON: {e.Message}", e);
        }

        return new HelmHistory((revisions ?? []).Where(r => r is not null).OrderBy(r => r.Revision).ToList());
    }

    public HelmRevision? Find(int revision) => Revisions.FirstOrDefault(r => r.Revision == revision);

    /// <summary>The highest revision with status <c>deployed</c>, if any.</summary>
    public HelmRevision? LastDeployed => Revisions.LastOrDefault(r => r.IsDeployed);

    /// <summary>
    /// The revision whose manifests the cluster runs, which a rollback must undo:
    /// <list type="bullet">
    /// <item>the latest revision when it is <c>failed</c> and newer than the last <c>deployed</c> one: a failed
    /// <c>helm upgrade --wait</c> leaves the previous revision marked <c>deployed</c>, while the cluster runs (part of)
    /// the failed revision's manifests;</item>
    /// <item>otherwise the highest <c>deployed</c> revision.</item>
    /// </list>
    /// Throws when Helm is busy with the release (a <c>pending-*</c> revision newer than the deployed one), when the
    /// latest revision is a failed rollback (a sentinel never rolls back again after a rollback failed), and when no
    /// revision is deployed.
    /// </summary>
    public HelmRevision Head(string where)
    {
        var deployed = LastDeployed;
        var floor = deployed?.Revision ?? 0;
        if (Revisions.LastOrDefault(r => r.Revision > floor && r.IsPending) is { } pending)
        {
            throw new ActionFailedException(
                $"{where} has an operation in progress (revision {pending.Revision} is {pending.Status}: {pending.Description}); not acting while Helm is busy with it");
        }

        var latest = Latest;
        if (latest is { IsFailedRollback: true } && latest.Revision > floor)
        {
            var to = latest.RolledBackTo is { } n ? $" to revision {n}" : "";
            throw new ActionFailedException(
                $"{where}: a rollback{to} failed at {latest.When} (revision {latest.Revision}, {latest.Status}: {latest.Description}); "
                + "a sentinel does not roll back again after a failed rollback: humans must look");
        }

        if (deployed is null)
        {
            var about = latest is { } l ? $" (latest: revision {l.Revision}, {l.Status}: {l.Description})" : " (it has no revisions)";
            throw new ActionFailedException($"{where} has no deployed revision{about}");
        }

        if (latest!.Revision == deployed.Revision || latest.IsFailed)
        {
            return latest;
        }

        throw new ActionFailedException(
            $"{where} has a revision newer than the deployed one (revision {latest.Revision} is {latest.Status}: {latest.Description}; "
            + $"revision {deployed.Revision} is deployed); not acting on a history it cannot read");
    }

    /// <summary>
    /// The revision to return to from <paramref name="bad"/>: for a failed revision the one still marked
    /// <c>deployed</c> below it; for a deployed one the highest earlier revision that was deployed successfully
    /// (failed ones skipped).
    /// </summary>
    public HelmRevision? ReturnTarget(HelmRevision bad) =>
        bad.IsFailed
            ? Revisions.LastOrDefault(r => r.Revision < bad.Revision && r.IsDeployed)
            : Revisions.LastOrDefault(r => r.Revision < bad.Revision && r.WasDeployed);
}

/// <summary>Helm's history and quoted values, with metadata made at compile time (docs/aot.md); default options, as before.</summary>
[JsonSerializable(typeof(List<HelmRevision>))]
[JsonSerializable(typeof(string))]
internal sealed partial class HelmJsonContext : JsonSerializerContext;
