namespace RollbackSentinel.Rules.Tests.Support;

/// <summary>Builds policy documents from parts, so each test shows only the part it is about.</summary>
internal static class PolicyYaml
{
    public const string HelmBlock = """
        helm:
          release: checkout
        """;

    public const string AvailabilityTrigger = """
        - name: availability
          availability:
            query: avg(up{job="checkout"})
            min: 0.95
          action: rollback
        """;

    /// <summary>An availability trigger whose series carry the labels <paramref name="byLabels"/> (target templates may use them).</summary>
    public static string GroupedTrigger(string byLabels) =>
        $"- name: availability\n  availability:\n    query: avg by ({byLabels}) (up)\n    min: 0.95\n  action: rollback";

    /// <summary>A whole document. <paramref name="spec"/> holds extra spec fields (schedule, cooldown, ...), unindented.</summary>
    public static string Document(string name = "checkout", string target = HelmBlock, string triggers = AvailabilityTrigger, string spec = "", string metadata = "") =>
        "apiVersion: rollback-sentinel/v1\n" +
        "kind: RollbackPolicy\n" +
        "metadata:\n" +
        $"  name: {name}\n" +
        Indent(metadata, 2) +
        "spec:\n" +
        "  target:\n" +
        Indent(target, 4) +
        Indent(spec, 2) +
        "  triggers:\n" +
        Indent(triggers, 4);

    /// <summary>A document with one trigger whose condition block is <paramref name="kindBlock"/> (e.g. "threshold:\n  query: ...").</summary>
    public static string WithTrigger(string kindBlock, string extra = "action: rollback") =>
        Document(triggers: "- name: t\n" + Indent(kindBlock, 2) + Indent(extra, 2));

    public static string Indent(string text, int spaces)
    {
        if (string.IsNullOrEmpty(text))
        {
            return string.Empty;
        }

        var pad = new string(' ', spaces);
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).TrimEnd('\n').Split('\n');
        return string.Concat(lines.Select(l => l.Length == 0 ? "\n" : pad + l + "\n"));
    }
}
