using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Rules;

/// <summary>Everything loaded from a set of rule files and folders.</summary>
public sealed record RuleSet(
    IReadOnlyList<Policy> Policies,
    IReadOnlyList<RuleDiagnostic> Diagnostics,
    IReadOnlyList<FileParseResult> Files)
{
    public IEnumerable<RuleDiagnostic> Errors => Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error);

    public bool HasErrors => Errors.Any();
}

/// <summary>
/// Loads every <c>*.yaml</c>/<c>*.yml</c> file under the given files and folders, in a stable order, and
/// checks what no single file can: that policy names are unique across all of them. A broken file never
/// hides the good ones: their policies are returned alongside its errors.
/// </summary>
public static class RuleSetLoader
{
    /// <param name="paths">Files and folders.</param>
    /// <param name="secretFiles">When given, secret files named by policies are checked against it (see <see cref="SecretFileAccess"/>).</param>
    public static RuleSet Load(IEnumerable<string> paths, SecretFileAccess? secretFiles = null)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var diagnostics = new List<RuleDiagnostic>();
        var files = new List<string>();
        foreach (var path in paths)
        {
            if (Directory.Exists(path))
            {
                files.AddRange(Directory.EnumerateFiles(path, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.Hidden })
                    .Where(IsRuleFile)
                    .Where(f => !IsHiddenPath(Path.GetRelativePath(path, f))));
            }
            else if (File.Exists(path))
            {
                files.Add(path);
            }
            else
            {
                diagnostics.Add(new RuleDiagnostic(path, 1, 1, string.Empty, "no such file or folder"));
            }
        }

        var results = new List<FileParseResult>();
        foreach (var file in files.DistinctBy(Path.GetFullPath, StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            string text;
            try
            {
                text = File.ReadAllText(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                diagnostics.Add(new RuleDiagnostic(file, 1, 1, string.Empty, $"cannot read the file: {e.Message}"));
                continue;
            }

            results.Add(PolicyParser.Parse(file, text, secretFiles));
        }

        return Combine(results, diagnostics);
    }

    /// <summary>Combines parsed files into one rule set, reporting duplicate policy names (the first one wins).</summary>
    public static RuleSet Combine(IReadOnlyList<FileParseResult> files, IEnumerable<RuleDiagnostic>? extra = null)
    {
        ArgumentNullException.ThrowIfNull(files);
        var diagnostics = new List<RuleDiagnostic>(extra ?? []);
        var policies = new List<Policy>();
        var seen = new Dictionary<string, Policy>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            diagnostics.AddRange(file.Diagnostics);
            foreach (var policy in file.Policies)
            {
                if (seen.TryGetValue(policy.Name, out var first))
                {
                    var at = policy.Source!;
                    diagnostics.Add(new RuleDiagnostic(at.File, at.Line, at.Column, "metadata.name",
                        $"policy name '{policy.Name}' is already used at {first.Source}; names must be unique across the rules folder"));
                    continue;
                }

                seen[policy.Name] = policy;
                policies.Add(policy);
            }
        }

        return new RuleSet(policies, diagnostics, files);
    }

    private static bool IsRuleFile(string path) =>
        path.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".yml", StringComparison.OrdinalIgnoreCase);

    // Kubernetes ConfigMap mounts keep ..data and ..2024_01_01 folders of links: read each file once, via its visible name.
    private static bool IsHiddenPath(string relative) =>
        relative.Split(Path.DirectorySeparatorChar).Any(part => part.StartsWith('.'));
}
