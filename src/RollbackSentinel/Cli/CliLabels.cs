using System.CommandLine;
using RollbackSentinel.Api;

namespace RollbackSentinel.Cli;

/// <summary>The repeatable <c>--label name=value</c> option of <c>rollback</c>, <c>mark</c> and <c>gate</c>, checked against the daemon's limits before anything is sent.</summary>
internal static class CliLabels
{
    public static Option<string[]> Option(string description)
    {
        var labels = new Option<string[]>("--label")
        {
            Description = $"{description}, as name=value (repeatable, at most {InputLimits.MaxLabels}).",
            AllowMultipleArgumentsPerToken = false,
        };
        labels.Validators.Add(r =>
        {
            var problem = Parse(r.GetValueOrDefault<string[]>() ?? [], out var parsed) ?? InputLimits.CheckLabels("--label", parsed);
            if (problem is not null)
            {
                r.AddError(problem);
            }
        });
        return labels;
    }

    /// <summary>The labels given (already validated by the option's validator).</summary>
    public static Dictionary<string, string> Of(ParseResult result, Option<string[]> option)
    {
        Parse(result.GetValue(option) ?? [], out var labels);
        return labels;
    }

    /// <summary>Reads name=value pairs; the problem with the first malformed or repeated one, or null.</summary>
    private static string? Parse(string[] pairs, out Dictionary<string, string> labels)
    {
        labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in pairs)
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                return $"--label '{InputLimits.Shorten(pair)}' is not name=value";
            }

            if (!labels.TryAdd(pair[..eq], pair[(eq + 1)..]))
            {
                return $"--label {InputLimits.Shorten(pair[..eq])} is given twice";
            }
        }

        return null;
    }
}
