using System.CommandLine;
using RollbackSentinel.Prometheus;

namespace RollbackSentinel.Cli;

/// <summary>The Prometheus connection options shared by verbs that query it. Secrets come from files, never the command line.</summary>
internal sealed class PrometheusOptionsBinding
{
    public Option<string?> Url { get; }

    public Option<FileInfo?> BearerTokenFile { get; } = new("--prometheus-bearer-token-file")
    {
        Description = "A file holding a bearer token for Prometheus.",
    };

    public Option<string?> Timeout { get; } = new("--prometheus-timeout")
    {
        Description = "Timeout of each Prometheus request (default 30s).",
    };

    public Option<long?> MaxResponseBytes { get; } = new("--prometheus-max-response-bytes")
    {
        Description = $"Largest Prometheus answer read, in bytes (default {PrometheusOptions.DefaultMaxResponseBytes}, 64 MiB).",
    };

    public Option<int?> MaxSeries { get; } = new("--prometheus-max-series")
    {
        Description = $"Most series one query may return (default {PrometheusOptions.DefaultMaxSeries}).",
    };

    public Option<int?> MaxLabelLength { get; } = new("--prometheus-max-label-length")
    {
        Description = $"Longest label name or value in a result (default {PrometheusOptions.DefaultMaxLabelLength}).",
    };

    public PrometheusOptionsBinding(string description, bool required)
    {
        Url = new Option<string?>("--prometheus") { Description = description, Required = required };
    }

    public void AddTo(Command command)
    {
        command.Options.Add(Url);
        command.Options.Add(BearerTokenFile);
        command.Options.Add(Timeout);
        command.Options.Add(MaxResponseBytes);
        command.Options.Add(MaxSeries);
        command.Options.Add(MaxLabelLength);
    }

    /// <summary>Builds the options, or explains what is wrong with them.</summary>
    public PrometheusOptions? Bind(ParseResult result, TextWriter error)
    {
        var text = result.GetValue(Url);
        if (text is null)
        {
            return null;
        }

        if (!Uri.TryCreate(text, UriKind.Absolute, out var url))
        {
            error.WriteLine($"error: --prometheus: '{text}' is not an absolute URL such as http://127.0.0.1:9090");
            return null;
        }

        var options = new PrometheusOptions { BaseAddress = url };
        options = options with
        {
            MaxResponseBytes = result.GetValue(MaxResponseBytes) ?? options.MaxResponseBytes,
            MaxSeries = result.GetValue(MaxSeries) ?? options.MaxSeries,
            MaxLabelLength = result.GetValue(MaxLabelLength) ?? options.MaxLabelLength,
        };
        if (result.GetValue(Timeout) is { } timeoutText)
        {
            if (!Core.Policies.PromDuration.TryParse(timeoutText, out var timeout, out var why) || timeout <= TimeSpan.Zero)
            {
                error.WriteLine($"error: --prometheus-timeout: {why ?? "must be positive"}");
                return null;
            }

            options = options with { Timeout = timeout };
        }

        if (result.GetValue(BearerTokenFile) is { } file)
        {
            try
            {
                options = options with { BearerToken = File.ReadAllText(file.FullName).Trim() };
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                error.WriteLine($"error: --prometheus-bearer-token-file: cannot read {file.FullName}: {e.Message}");
                return null;
            }
        }

        var problems = options.Validate();
        foreach (var problem in problems)
        {
            error.WriteLine($"error: --prometheus: {problem}");
        }

        return problems.Count == 0 ? options : null;
    }
}
