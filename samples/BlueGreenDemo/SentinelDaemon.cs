using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using RollbackSentinel.Testing.Net;

namespace BlueGreenDemo;

/// <summary>
/// The sentinel daemon as a process, as an operator runs it:
/// <c>dotnet RollbackSentinel.dll run --rules DIR --prometheus URL --listen http://127.0.0.1:PORT</c>, its store in a
/// temporary folder (<c>SENTINEL__STORAGE__PATH</c>) and a random API token (<c>SENTINEL__HTTP__APITOKEN</c>), plus
/// a small client for its API.
/// </summary>
public sealed class SentinelDaemon : IAsyncDisposable
{
    private const int MaxStartAttempts = 3;
    private static readonly TimeSpan StartupTimeout = TimeSpan.FromSeconds(60);

    private readonly ChildProcess _process;
    private readonly HttpClient _http;

    private readonly string _token;

    private SentinelDaemon(ChildProcess process, Uri address, string token)
    {
        _process = process;
        Address = address;
        _token = token;
        _http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(5) };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    public Uri Address { get; }

    /// <summary>The daemon's admin API token (random per run): what the status page's sign-in form takes.</summary>
    public string Token => _token;

    public ChildProcess Process => _process;

    /// <summary>The exit code of the graceful stop (SIGTERM), once stopped; null if it had to be killed.</summary>
    public int? StopExitCode { get; private set; }

    public static async Task<SentinelDaemon> StartAsync(string dll, string rulesDirectory, Uri prometheus, string workDirectory, CancellationToken cancellationToken)
    {
        var token = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        for (var attempt = 1; ; attempt++)
        {
            var address = new Uri($"http://127.0.0.1:{FreePort.Next().ToString(CultureInfo.InvariantCulture)}/");
            var process = ChildProcess.StartDotnet(
                "rollback-sentinel",
                dll,
                ["run", "--rules", rulesDirectory, "--prometheus", prometheus.AbsoluteUri, "--listen", address.AbsoluteUri.TrimEnd('/')],
                new Dictionary<string, string>
                {
                    ["SENTINEL__STORAGE__PATH"] = Path.Combine(workDirectory, "data", "sentinel.db"),
                    ["SENTINEL__HTTP__APITOKEN"] = token,
                },
                workDirectory);
            var daemon = new SentinelDaemon(process, address, token);
            try
            {
                if (await daemon.WaitReadyAsync(cancellationToken))
                {
                    return daemon;
                }
            }
            catch
            {
                await daemon.DisposeAsync();
                throw;
            }

            var log = process.RecentLog;
            await daemon.DisposeAsync();
            if (attempt == MaxStartAttempts || !log.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException($"the sentinel did not start (attempt {attempt}). Its output:{Environment.NewLine}{log}");
            }
        }
    }

    public async Task<JsonElement> GetAsync(string path, CancellationToken cancellationToken)
    {
        using var response = await _http.GetAsync(new Uri(path, UriKind.Relative), cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"GET {path}: HTTP {(int)response.StatusCode}: {body}");
        }

        using var document = JsonDocument.Parse(body);
        return document.RootElement.Clone();
    }

    /// <summary>
    /// Records a change, as a pipeline does after a deploy (<c>POST /api/v1/changes</c>, answered 201 with the stored change).
    /// </summary>
    public async Task<JsonElement> RecordChangeAsync(string policy, string revision, string previousRevision, string by, string description, CancellationToken cancellationToken)
    {
        var body = JsonSerializer.Serialize(new { policy, revision, previousRevision, by, description });
        using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        using var response = await _http.PostAsync(new Uri("api/v1/changes", UriKind.Relative), content, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if (response.StatusCode != System.Net.HttpStatusCode.Created)
        {
            throw new HttpRequestException($"POST api/v1/changes: HTTP {(int)response.StatusCode}: {text}");
        }

        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    /// <summary>The policy's gate (<c>GET /api/v1/gates/{policy}</c>): 200 when open, 409 with the reasons when closed.</summary>
    public async Task<GateReading> GateAsync(string policy, CancellationToken cancellationToken)
    {
        using var response = await _http.GetAsync(new Uri($"api/v1/gates/{Uri.EscapeDataString(policy)}", UriKind.Relative), cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        if ((int)response.StatusCode is not (200 or 409))
        {
            throw new HttpRequestException($"GET api/v1/gates/{policy}: HTTP {(int)response.StatusCode}: {text}");
        }

        using var document = JsonDocument.Parse(text);
        return new GateReading((int)response.StatusCode, document.RootElement.Clone());
    }

    /// <summary>The policy named <paramref name="name"/> as <c>GET /api/v1/policies</c> shows it, or null when not loaded.</summary>
    public async Task<JsonElement?> PolicyAsync(string name, CancellationToken cancellationToken)
    {
        foreach (var p in (await GetAsync("api/v1/policies", cancellationToken)).EnumerateArray())
        {
            if (p.GetProperty("name").GetString() == name)
            {
                return p;
            }
        }

        return null;
    }

    public async Task<JsonElement[]> IncidentsAsync(CancellationToken cancellationToken) =>
        [.. (await GetAsync("api/v1/incidents", cancellationToken)).EnumerateArray()];

    public Task<JsonElement> IncidentAsync(long id, CancellationToken cancellationToken) =>
        GetAsync(FormattableString.Invariant($"api/v1/incidents/{id}"), cancellationToken);

    /// <summary>SIGTERM (as Kubernetes stops it), waiting for the graceful exit.</summary>
    public async Task<int?> StopAsync()
    {
        StopExitCode = await _process.StopAsync(TimeSpan.FromSeconds(20));
        return StopExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        if (!_process.HasExited)
        {
            await StopAsync();
        }

        await _process.DisposeAsync();
    }

    private async Task<bool> WaitReadyAsync(CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < StartupTimeout)
        {
            if (_process.HasExited)
            {
                return false;
            }

            try
            {
                using var response = await _http.GetAsync(new Uri("readyz", UriKind.Relative), cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return true;
                }
            }
            catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
            {
                // Not listening yet.
            }

            await Task.Delay(100, cancellationToken);
        }

        throw new TimeoutException($"the sentinel did not become ready on {Address} within {StartupTimeout.TotalSeconds}s. Its output:{Environment.NewLine}{_process.RecentLog}");
    }
}

/// <summary>One answer of the gate: the HTTP status (200 open, 409 closed) and its JSON body.</summary>
public sealed record GateReading(int Status, JsonElement Body)
{
    public bool Open => Body.GetProperty("open").GetBoolean();

    public IReadOnlyList<string> Reasons =>
        Body.TryGetProperty("reasons", out var r) && r.ValueKind == JsonValueKind.Array ? [.. r.EnumerateArray().Select(x => x.GetString() ?? "")] : [];

    /// <summary>e.g. <c>200 open (green-errors 3 passes, green-latency-vs-blue 3 passes)</c> or <c>409 closed: reason; reason</c>.</summary>
    public string Describe()
    {
        if (Open)
        {
            var series = Body.TryGetProperty("series", out var s) && s.ValueKind == JsonValueKind.Array
                ? string.Join(", ", s.EnumerateArray().Select(x => $"{x.GetProperty("trigger").GetString()} {x.GetProperty("passes").GetInt32().ToString(CultureInfo.InvariantCulture)} passes"))
                : "";
            return $"{Status.ToString(CultureInfo.InvariantCulture)} open{(series.Length == 0 ? "" : $" ({series})")}";
        }

        return $"{Status.ToString(CultureInfo.InvariantCulture)} closed: {string.Join("; ", Reasons)}";
    }
}
