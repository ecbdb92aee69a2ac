using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace RollbackSentinel.Actions.Helm;

/// <summary>One revision of a release, as <c>helm history RELEASE -o json</c> prints it (Helm 3).</summary>
internal sealed record HelmRevision
{
    /// <summary>What Helm writes as the description of a revision made by <c>helm rollback RELEASE N</c>.</summary>
    public const string RollbackPrefix = "Rollback to ";

    [JsonPropertyName("revision")]
    public int Revision { get; init; }

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

    /// <summary>Deployed successfully at some point: the current revision, or one a later deploy replaced.</summary>
    public bool WasDeployed => Status is "deployed" or "superseded";

    public bool IsPending => Status.StartsWith("pending-", StringComparison.Ordinal);

    public bool IsRollback => Description.StartsWith(RollbackPrefix, StringComparison.Ordinal);

    /// <summary>The revision a rollback returned to (from "Rollback to N"), if this is one.</summary>
    public int? RolledBackTo =>
        IsRollback && int.TryParse(Description.AsSpan(RollbackPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;

    /// <summary>How outcomes name it: <c>revision 5 (shop-1.5.0)</c>, <c>revision 6 = rollback to 3 (shop-1.4.0)</c>.</summary>
    public override string ToString() =>
        RolledBackTo is { } to ? $"revision {Revision} = rollback to {to} ({Chart})" : $"revision {Revision} ({Chart})";
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
            revisions = JsonSerializer.Deserialize<List<HelmRevision>>(json.Trim().Length == 0 ? "[]" : json);
        }
        catch (JsonException e)
        {
            throw new ActionFailedException($"'{command}' did not print Helm 3's history as JSON: {e.Message}", e);
        }

        return new HelmHistory((revisions ?? []).Where(r => r is not null).OrderBy(r => r.Revision).ToList());
    }

    public HelmRevision? Find(int revision) => Revisions.FirstOrDefault(r => r.Revision == revision);

    /// <summary>
    /// The revision the release runs: the highest one with status <c>deployed</c>. Throws when there is none, or
    /// when a newer operation is still pending (Helm is busy with the release: acting now would race it).
    /// </summary>
    public HelmRevision Current(string where)
    {
        var current = Revisions.LastOrDefault(r => r.IsDeployed);
        if (current is null)
        {
            var latest = Latest is { } l ? $" (latest: revision {l.Revision}, {l.Status}: {l.Description})" : " (it has no revisions)";
            throw new ActionFailedException($"{where} has no deployed revision{latest}");
        }

        if (Revisions.LastOrDefault(r => r.Revision > current.Revision && r.IsPending) is { } pending)
        {
            throw new ActionFailedException(
                $"{where} has an operation in progress (revision {pending.Revision} is {pending.Status}: {pending.Description}); not acting while Helm is busy with it");
        }

        return current;
    }

    /// <summary>The highest revision below <paramref name="current"/> that was deployed successfully (failed ones skipped).</summary>
    public HelmRevision? LastGoodBefore(HelmRevision current) =>
        Revisions.LastOrDefault(r => r.Revision < current.Revision && r.WasDeployed);
}
