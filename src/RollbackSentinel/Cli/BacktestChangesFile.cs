using System.Text.Json;
using RollbackSentinel.Core.Changes;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Metrics;

namespace RollbackSentinel.Cli;

/// <summary>
/// <c>backtest --changes FILE</c>: known changes, one JSON object per line in the API's change format
/// (<c>{"id":1,"policy":"checkout-api","labels":{"deployment":"cart"},"at":"RFC 3339","source":"api","revision":"v42",...}</c>).
/// <c>policy</c> and <c>at</c> are required; <c>source</c> defaults to <c>api</c>; blank lines are skipped. Every bad line
/// is reported as <c>file:line: field: what is wrong</c>, since a change read wrongly would arm or disarm the wrong rollbacks.
/// </summary>
internal static class BacktestChangesFile
{
    /// <summary>More bad lines than this are counted, not each printed.</summary>
    public const int MaxReportedErrors = 20;

    private static readonly string[] Fields = ["id", "policy", "labels", "at", "source", "revision", "previousRevision", "by", "description", "recordedAt"];

    /// <summary>The changes in <paramref name="text"/>, or every error found (named after <paramref name="file"/>).</summary>
    public static (IReadOnlyList<Change> Changes, IReadOnlyList<string> Errors) Parse(string file, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var changes = new List<Change>();
        var errors = new List<string>();
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            var problems = new List<string>();
            var change = ParseLine(line, problems);
            errors.AddRange(problems.Select(p => $"{file}:{i + 1}: {p}"));
            if (change is not null && problems.Count == 0)
            {
                changes.Add(change);
            }
        }

        return (changes, errors);
    }

    private static Change? ParseLine(string line, List<string> problems)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(line);
        }
        catch (JsonException e)
        {
            problems.Add($"not JSON: {e.Message}");
            return null;
        }

        using (doc)
        {
            var o = doc.RootElement;
            if (o.ValueKind != JsonValueKind.Object)
            {
                problems.Add($"must be a JSON object (a change), got {Kind(o)}");
                return null;
            }

            foreach (var p in o.EnumerateObject().Where(p => !Fields.Contains(p.Name, StringComparer.Ordinal)))
            {
                problems.Add($"{p.Name}: unknown field (a change has {string.Join(", ", Fields)})");
            }

            long id = 0;
            if (Optional(o, "id") is { } idValue && (idValue.ValueKind != JsonValueKind.Number || !idValue.TryGetInt64(out id) || id < 0))
            {
                problems.Add($"id: must be a whole number, got {idValue.GetRawText()}");
            }

            var policy = String(o, "policy", problems);
            if (policy is null && !problems.Any(p => p.StartsWith("policy:", StringComparison.Ordinal)))
            {
                problems.Add("policy: required (the name of the policy the change concerns)");
            }
            else if (policy is { Length: 0 })
            {
                problems.Add("policy: must not be empty");
            }

            var at = Time(o, "at", problems);
            if (at is null && !problems.Any(p => p.StartsWith("at:", StringComparison.Ordinal)))
            {
                problems.Add("at: required (when the change happened, RFC 3339 such as 2026-11-22T10:00:00Z)");
            }

            var source = String(o, "source", problems) switch
            {
                null or "api" => ChangeSource.Api,
                "target" => ChangeSource.Target,
                "query" => ChangeSource.Query,
                var other => Bad(problems, $"source: must be one of api, target, query, got '{other}'"),
            };
            var labels = Labels(o, problems);
            var revision = String(o, "revision", problems);
            var previous = String(o, "previousRevision", problems);
            var by = String(o, "by", problems);
            var description = String(o, "description", problems);
            var recordedAt = Time(o, "recordedAt", problems);
            return policy is { Length: > 0 } && at is { } when
                ? new Change
                {
                    Id = id,
                    Policy = policy,
                    Labels = labels,
                    At = when,
                    Source = source,
                    Revision = revision,
                    PreviousRevision = previous,
                    By = by,
                    Description = description,
                    RecordedAt = recordedAt,
                }
                : null;
        }
    }

    private static JsonElement? Optional(JsonElement o, string name) =>
        o.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    /// <summary>A string field, or null when absent or null; anything else is a problem.</summary>
    private static string? String(JsonElement o, string name, List<string> problems)
    {
        if (Optional(o, name) is not { } v)
        {
            return null;
        }

        if (v.ValueKind != JsonValueKind.String)
        {
            AddOnce(problems, $"{name}: must be a string, got {Kind(v)}");
            return null;
        }

        return v.GetString();
    }

    private static DateTimeOffset? Time(JsonElement o, string name, List<string> problems)
    {
        var text = String(o, name, problems);
        if (text is null)
        {
            return null;
        }

        if (!Rfc3339.TryParse(text, out var t))
        {
            AddOnce(problems, $"{name}: must be an RFC 3339 time such as 2026-11-22T10:00:00Z, got '{text}'");
            return null;
        }

        return t;
    }

    private static LabelSet Labels(JsonElement o, List<string> problems)
    {
        if (Optional(o, "labels") is not { } v)
        {
            return LabelSet.Empty;
        }

        if (v.ValueKind != JsonValueKind.Object)
        {
            problems.Add($"labels: must be an object of label names to values, got {Kind(v)}");
            return LabelSet.Empty;
        }

        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var l in v.EnumerateObject())
        {
            if (l.Value.ValueKind != JsonValueKind.String)
            {
                problems.Add($"labels.{l.Name}: must be a string, got {Kind(l.Value)}");
            }
            else if (l.Name.Length == 0 || l.Name == "__name__" || !labels.TryAdd(l.Name, l.Value.GetString()!))
            {
                problems.Add($"labels.{l.Name}: {(l.Name.Length == 0 ? "a label needs a name" : l.Name == "__name__" ? "a change concerns series, not a metric name" : "appears twice")}");
            }
        }

        return LabelSet.From(labels);
    }

    private static ChangeSource Bad(List<string> problems, string problem)
    {
        problems.Add(problem);
        return ChangeSource.Api;
    }

    private static void AddOnce(List<string> problems, string problem)
    {
        if (!problems.Contains(problem))
        {
            problems.Add(problem);
        }
    }

    private static string Kind(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => $"the string {v.GetRawText()}",
        JsonValueKind.True or JsonValueKind.False => v.GetRawText(),
        JsonValueKind.Null => "null",
        _ => v.GetRawText(),
    };
}
