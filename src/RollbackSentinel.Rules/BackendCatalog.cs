using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using RollbackSentinel.Core.Policies;

namespace RollbackSentinel.Rules;

/// <summary>The language a backend's queries are written in.</summary>
public enum QueryLanguage
{
    /// <summary>Prometheus and Prometheus-compatible servers (VictoriaMetrics takes MetricsQL, a superset).</summary>
    PromQL,

    /// <summary>A graphite-web target expression (<c>sumSeries(app.*.5xx)</c>).</summary>
    GraphiteTarget,

    /// <summary>InfluxDB 1.x InfluxQL, a <c>SELECT</c> with <c>$timeFilter</c> in its <c>WHERE</c>.</summary>
    InfluxQL,

    /// <summary>A Datadog metrics query (<c>sum:trace.http.request.errors{service:checkout}.as_count()</c>).</summary>
    Datadog,
}

/// <summary>
/// The metrics backends the settings name, as the rules see them: which names exist, which is the default, and the query
/// language of each. <see cref="Check"/> turns a policy naming an unknown backend, or a query in the wrong language for
/// its backend, into an error at the field, and leaves the policy out (the other policies are not affected).
/// </summary>
public sealed partial class BackendCatalog
{
    /// <summary>The name of the backend the <c>prometheus:</c> settings block describes.</summary>
    public const string DefaultName = "default";

    /// <summary>Every backend type the daemon speaks, as written in <c>backends.NAME.type</c>.</summary>
    public static readonly IReadOnlyList<string> Types = ["prometheus", "victoriametrics", "graphite", "influxdb", "datadog"];

    private readonly Dictionary<string, string> _types;

    // Each file's check, kept while the file's parse is: a rescan hands back the same parse of every unchanged file, and
    // its queries are not matched against the languages again (the catalog does not change while the daemon runs).
    private readonly ConditionalWeakTable<FileParseResult, FileParseResult> _checked = new();
    private readonly ConditionalWeakTable<FileParseResult, FileParseResult>.CreateValueCallback _check;

    /// <param name="types">Backend name to type (<see cref="Types"/>), the default one included.</param>
    /// <param name="defaultBackend">The backend of policies without <c>spec.backend</c>.</param>
    public BackendCatalog(IReadOnlyDictionary<string, string> types, string defaultBackend = DefaultName)
    {
        ArgumentNullException.ThrowIfNull(types);
        // Settings keys are not case-sensitive (an environment variable SENTINEL__BACKENDS__VM__URL names the backend "VM"):
        // neither are backend names.
        _types = new Dictionary<string, string>(types, StringComparer.OrdinalIgnoreCase);
        if (!_types.ContainsKey(defaultBackend))
        {
            throw new ArgumentException($"The default backend '{defaultBackend}' is not among the backends.", nameof(defaultBackend));
        }

        DefaultBackend = defaultBackend;
        _check = CheckCore;
    }

    /// <summary>Only the default Prometheus: what a command without settings knows.</summary>
    public static BackendCatalog PrometheusOnly { get; } = new(new Dictionary<string, string> { [DefaultName] = "prometheus" });

    /// <summary>The backend of policies without <c>spec.backend</c>.</summary>
    public string DefaultBackend { get; }

    /// <summary>The backends' names, in order.</summary>
    public IEnumerable<string> Names => _types.Keys.Order(StringComparer.OrdinalIgnoreCase);

    /// <summary>Whether <paramref name="a"/> and <paramref name="b"/> name the same backend (names are not case-sensitive).</summary>
    public static bool SameName(string? a, string? b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);

    /// <summary>The name a policy's queries go to: its <c>spec.backend</c>, else the default.</summary>
    public string Resolve(string? backend) => backend ?? DefaultBackend;

    /// <summary>The type of the backend a policy's <c>spec.backend</c> names (null: the default), or null when no such backend is configured.</summary>
    public string? TypeOf(string? backend) => _types.GetValueOrDefault(Resolve(backend));

    /// <summary>The query language of a backend type.</summary>
    public static QueryLanguage LanguageOf(string type) => type switch
    {
        "prometheus" or "victoriametrics" => QueryLanguage.PromQL,
        "graphite" => QueryLanguage.GraphiteTarget,
        "influxdb" => QueryLanguage.InfluxQL,
        "datadog" => QueryLanguage.Datadog,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unknown backend type"),
    };

    /// <summary>
    /// The file with an error for each policy that names a backend the settings lack and each query that is not in its
    /// backend's language; those policies are left out. The same object when nothing is wrong.
    /// </summary>
    public FileParseResult Check(FileParseResult file)
    {
        ArgumentNullException.ThrowIfNull(file);
        return _checked.GetValue(file, _check);
    }

    private FileParseResult CheckCore(FileParseResult file)
    {
        List<RuleDiagnostic>? found = null;
        HashSet<string>? bad = null;
        void Add(RuleDiagnostic d, string? policy)
        {
            (found ??= []).Add(d);
            if (policy is not null)
            {
                (bad ??= new HashSet<string>(StringComparer.Ordinal)).Add(policy);
            }
        }

        foreach (var policy in file.Policies)
        {
            if (TypeOf(policy.Backend) is null)
            {
                var at = policy.BackendSource ?? policy.Source ?? new SourceLocation(file.File, 1, 1);
                Add(new RuleDiagnostic(at.File, at.Line, at.Column, "spec.backend", Unknown(policy.Backend)), policy.Name);
            }
        }

        foreach (var q in file.Queries)
        {
            if (TypeOf(q.Backend) is { } type && Misfit(LanguageOf(type), q.Query) is { } why)
            {
                Add(new RuleDiagnostic(q.File, q.Line, q.Column, q.Field, $"backend '{Resolve(q.Backend)}' ({type}) {why}"), q.Policy);
            }
        }

        if (found is null)
        {
            return file;
        }

        return file with
        {
            Policies = bad is null ? file.Policies : file.Policies.Where(p => !bad.Contains(p.Name)).ToList(),
            Diagnostics = [.. file.Diagnostics, .. found],
        };
    }

    private string Unknown(string? backend) =>
        $"'{Resolve(backend)}' is not a backend of the settings (backends: {string.Join(", ", Names)}); add it under backends: in the settings (validate and backtest read them with --config), or fix the name";

    /// <summary>Why <paramref name="query"/> cannot be a query of <paramref name="language"/>, or null when it may be.</summary>
    public static string? Misfit(QueryLanguage language, string query)
    {
        ArgumentNullException.ThrowIfNull(query);
        var text = query.Trim();
        var influx = InfluxSelect().IsMatch(text);
        var promRange = PromRange().IsMatch(text);
        var promMatcher = PromMatcher().IsMatch(text);
        switch (language)
        {
            case QueryLanguage.PromQL when influx || text.Contains("$timeFilter", StringComparison.Ordinal):
                return "takes PromQL, but this is InfluxQL";
            case QueryLanguage.GraphiteTarget when influx:
                return "takes a Graphite target such as sumSeries(app.*.errors), but this is InfluxQL";
            case QueryLanguage.GraphiteTarget when promRange || promMatcher:
                return "takes a Graphite target such as sumSeries(app.*.errors), but this looks like PromQL (a label matcher or a [range])";
            case QueryLanguage.InfluxQL when !influx:
                return "takes InfluxQL: SELECT ... FROM ... WHERE $timeFilter ...";
            case QueryLanguage.InfluxQL when !text.Contains("$timeFilter", StringComparison.Ordinal):
                return "needs $timeFilter in the query's WHERE clause, where the time range of each evaluation goes (WHERE \"app\" = 'checkout' AND $timeFilter)";
            case QueryLanguage.Datadog when influx:
                return "takes a Datadog metrics query such as sum:trace.http.request.errors{service:checkout}.as_count(), but this is InfluxQL";
            case QueryLanguage.Datadog when promRange || promMatcher:
                return "takes a Datadog metrics query such as sum:trace.http.request.errors{service:checkout}.as_count(), but this looks like PromQL (a label matcher or a [range])";
            default:
                return null;
        }
    }

    [GeneratedRegex(@"^\s*select\s", RegexOptions.IgnoreCase)]
    private static partial Regex InfluxSelect();

    /// <summary>A PromQL range selector: <c>[5m]</c>, <c>[1h:1m]</c>.</summary>
    [GeneratedRegex(@"\[\s*\d+(ms|[smhdwy])(\s*:\s*(\d+(ms|[smhdwy]))?)?\s*\]")]
    private static partial Regex PromRange();

    /// <summary>A PromQL label matcher in braces: <c>{app="x"}</c>, <c>{code=~"5.."}</c>.</summary>
    [GeneratedRegex(@"\{\s*[A-Za-z_][A-Za-z0-9_]*\s*(=~|!~|!=|=)\s*[""'`]")]
    private static partial Regex PromMatcher();
}
