using System.Net;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using RollbackSentinel.Testing.Net;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>
/// A workspace for one daemon: a rules folder, a sentinel.yaml, a data folder. The daemon can be run as a
/// real process (so a test can kill it with SIGKILL and start it again on the same data) or in-process.
/// </summary>
internal sealed class SentinelWorkspace : IDisposable
{
    public const string Token = "test-api-token";

    /// <param name="prometheus">The Prometheus the daemon reads.</param>
    /// <param name="extraSettings">More sentinel.yaml, from column 0 (e.g. a notifications block).</param>
    public SentinelWorkspace(Uri prometheus, string extraSettings = "")
    {
        Root = Directory.CreateTempSubdirectory("sentinel-daemon-").FullName;
        RulesPath = Path.Combine(Root, "rules");
        Directory.CreateDirectory(RulesPath);
        Port = FreePort.Next();
        ConfigPath = Path.Combine(Root, "sentinel.yaml");
        File.WriteAllText(ConfigPath, $"""
            rules: {RulesPath}
            prometheus:
              url: {prometheus}
              timeout: 2s
            storage:
              path: {Path.Combine(Root, "data", "sentinel.db")}
            http:
              listen: http://127.0.0.1:{Port}
              apiToken: {Token}
            rescanInterval: 1s
            shutdownTimeout: 10s
            """ + "\n" + extraSettings);
    }

    public string Root { get; }

    public string RulesPath { get; }

    public string ConfigPath { get; }

    public int Port { get; }

    public Uri BaseAddress => new($"http://127.0.0.1:{Port}/");

    public void WriteRule(string name, string yaml) => File.WriteAllText(Path.Combine(RulesPath, name), yaml);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // A killed process may still hold a file for a moment; the temp folder is cleaned by the OS.
        }
    }
}

/// <summary>The daemon as a child process: <c>rollback-sentinel run --config ...</c> (<see cref="SentinelCommand"/>).</summary>
internal sealed class SentinelProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();

    private SentinelProcess(Process process) => _process = process;

    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>
    /// Waits for a line the daemon writes after a state a test has already seen (through the API or the store): a
    /// decision is logged after its actions ran, a reload after the registry took it.
    /// </summary>
    public Task WaitForLogAsync(Func<string, bool> holds, TimeSpan within, string what) =>
        Eventually.WaitAsync(() => Task.FromResult(holds(Log)), within, what + Environment.NewLine + Log);

    /// <summary>As <see cref="WaitForLogAsync(Func{string, bool}, TimeSpan, string)"/>, for a line that contains <paramref name="text"/>.</summary>
    public Task WaitForLogAsync(string text, TimeSpan within) =>
        WaitForLogAsync(log => log.Contains(text, StringComparison.Ordinal), within, $"a log line with \"{text}\"");

    public static Task<SentinelProcess> StartAsync(SentinelWorkspace workspace) =>
        StartAsync(workspace, ["run", "--config", workspace.ConfigPath], new Dictionary<string, string>());

    /// <param name="workspace">Its root is the working directory.</param>
    /// <param name="args">The command line after the dll.</param>
    /// <param name="environment">Extra environment variables (e.g. SENTINEL__HTTP__LISTEN).</param>
    /// <param name="untilReady">Wait for /readyz (true) or only for /healthz, for a daemon that is up but not ready.</param>
    /// <param name="launcher">A command that runs the daemon's command (e.g. setpriv to run it as another user), or null.</param>
    /// <param name="within">How long to wait for it (60 s when null).</param>
    public static async Task<SentinelProcess> StartAsync(SentinelWorkspace workspace, IReadOnlyList<string> args, IReadOnlyDictionary<string, string> environment, bool untilReady = true, IReadOnlyList<string>? launcher = null, TimeSpan? within = null)
    {
        var (process, sentinel) = Launch(workspace, args, environment, launcher);
        using var api = new SentinelApi(workspace.BaseAddress);
        try
        {
            await Eventually.WaitAsync(
                async () => !process.HasExited && (untilReady ? await api.IsReadyAsync() : await api.IsAliveAsync()),
                within ?? TimeSpan.FromSeconds(60),
                untilReady ? "the daemon to become ready" : "the daemon to answer /healthz");
        }
        catch (TimeoutException e)
        {
            await sentinel.DisposeAsync();
            throw new TimeoutException(e.Message + Environment.NewLine + sentinel.Log, e);
        }

        return sentinel;
    }

    /// <summary>Runs a daemon that is expected to refuse to start: waits (boundedly) for it to exit; returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunToExitAsync(SentinelWorkspace workspace, IReadOnlyList<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var (process, sentinel) = Launch(workspace, args, environment ?? new Dictionary<string, string>());
        await using (sentinel)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException("the daemon did not exit within 60 s:" + Environment.NewLine + sentinel.Log);
            }

            // The asynchronous readers deliver the last lines after the exit.
            process.WaitForExit();
            return (process.ExitCode, sentinel.Log);
        }
    }

    private static (Process Process, SentinelProcess Sentinel) Launch(SentinelWorkspace workspace, IReadOnlyList<string> args, IReadOnlyDictionary<string, string> environment, IReadOnlyList<string>? launcher = null)
    {
        var info = new ProcessStartInfo(launcher is [var first, ..] ? first : SentinelCommand.Program)
        {
            WorkingDirectory = workspace.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in launcher is null ? SentinelCommand.With(args) : [.. launcher.Skip(1), SentinelCommand.Program, .. SentinelCommand.With(args)])
        {
            info.ArgumentList.Add(a);
        }

        foreach (var (k, v) in environment)
        {
            info.Environment[k] = v;
        }

        var process = new Process { StartInfo = info };
        var sentinel = new SentinelProcess(process);
        process.OutputDataReceived += (_, e) => sentinel.Append(e.Data);
        process.ErrorDataReceived += (_, e) => sentinel.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return (process, sentinel);
    }

    public bool HasExited => _process.HasExited;

    /// <summary>The daemon's process id.</summary>
    public int Id => _process.Id;

    /// <summary>
    /// Sends a signal with kill(1): <c>STOP</c> freezes the daemon as a long GC pause or a frozen VM would, <c>CONT</c>
    /// wakes it where it was.
    /// </summary>
    public async Task SignalAsync(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -{signal} {Id} exited with {kill.ExitCode}");
        }
    }

    /// <summary>SIGKILL: no shutdown code runs, as in a node failure or an OOM kill.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    /// <summary>SIGTERM, as Kubernetes sends: returns the exit code.</summary>
    public async Task<int> TerminateAsync()
    {
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _process.WaitForExitAsync(timeout.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            if (_log.Length < 200_000)
            {
                _log.AppendLine(line);
            }
        }
    }
}

/// <summary>A small client for the daemon's HTTP API, with the workspace's token.</summary>
internal sealed class SentinelApi : IDisposable
{
    private readonly HttpClient _http;

    public SentinelApi(Uri baseAddress, string? token = SentinelWorkspace.Token)
    {
        _http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(5) };
        if (token is not null)
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
    }

    public HttpClient Http => _http;

    public async Task<bool> IsReadyAsync()
    {
        using var response = await _http.GetAsync("readyz");
        return response.IsSuccessStatusCode;
    }

    public async Task<bool> IsAliveAsync()
    {
        try
        {
            using var response = await _http.GetAsync("healthz");
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    /// <summary>/readyz: its status code and the problem's detail (why it is not ready), or "ready".</summary>
    public async Task<(int Status, string Detail)> ReadinessAsync()
    {
        using var response = await _http.GetAsync("readyz");
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        return ((int)response.StatusCode, body.TryGetProperty("detail", out var d) ? d.GetString()! : body.GetProperty("status").GetString()!);
    }

    public async Task<JsonElement> GetJsonAsync(string path)
    {
        using var response = await _http.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException($"GET {path}: HTTP {(int)response.StatusCode}: {body}");
        }

        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>The phase of a trigger's only series, or null if it has none yet.</summary>
    public async Task<string?> PhaseAsync(string policy, string trigger)
    {
        var policies = await GetJsonAsync("api/v1/policies");
        var t = policies.EnumerateArray().Single(p => p.GetProperty("name").GetString() == policy)
            .GetProperty("triggers").EnumerateArray().Single(x => x.GetProperty("name").GetString() == trigger);
        var series = t.GetProperty("series").EnumerateArray().ToArray();
        return series.Length == 0 ? null : series[0].GetProperty("phase").GetString();
    }

    /// <summary>POSTs a JSON body and returns the JSON answer; a non-2xx answer fails the test with the body.</summary>
    /// <summary>POSTs JSON and returns the status without judging it (for refusals).</summary>
    public async Task<HttpStatusCode> PostStatusAsync(string path, object body)
    {
        using var response = await _http.PostAsJsonAsync(path, body);
        return response.StatusCode;
    }

    public async Task<JsonElement> PostJsonAsync(string path, object body)
    {
        using var response = await _http.PostAsJsonAsync(path, body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"POST {path}: HTTP {(int)response.StatusCode} {text}");
        using var doc = JsonDocument.Parse(text);
        return doc.RootElement.Clone();
    }

    public async Task<JsonElement[]> IncidentsAsync() => [.. (await GetJsonAsync("api/v1/incidents")).EnumerateArray()];

    /// <summary>Waits for the shop policy's first passing evaluation (the daemon is up and deciding).</summary>
    public Task WaitForPassAsync(TimeSpan within) =>
        Eventually.WaitAsync(async () => await PhaseAsync("shop", "errors") == "ok" && (await LastVerdictAsync()) == "pass", within, "a passing evaluation");

    /// <summary>Waits for an incident in one of <paramref name="states"/> and returns its timeline (incident, events, actions).</summary>
    public async Task<JsonElement> WaitForIncidentAsync(TimeSpan within, Func<string> log, params string[] states)
    {
        var incident = await Eventually.WaitAsync(
            async () => (await IncidentsAsync()).FirstOrDefault(i => states.Contains(i.GetProperty("state").GetString())) is { ValueKind: JsonValueKind.Object } i ? (object)i : null,
            within,
            $"an incident in state {string.Join(" or ", states)}" + Environment.NewLine + log());
        return await GetJsonAsync($"api/v1/incidents/{((JsonElement)incident).GetProperty("id").GetInt64()}");
    }

    /// <summary>The only policy's first trigger's first series, or null before its first evaluation.</summary>
    private async Task<JsonElement?> OnlySeriesAsync()
    {
        var p = (await GetJsonAsync("api/v1/policies")).EnumerateArray().Single();
        var series = p.GetProperty("triggers")[0].GetProperty("series").EnumerateArray().ToArray();
        return series.Length == 0 ? null : series[0];
    }

    public async Task<string?> LastVerdictAsync() =>
        await OnlySeriesAsync() is { } s && s.GetProperty("lastVerdict") is { ValueKind: JsonValueKind.Object } v ? v.GetProperty("kind").GetString() : null;

    public async Task<double?> ThresholdAsync() =>
        await OnlySeriesAsync() is { } s && s.GetProperty("lastVerdict") is { ValueKind: JsonValueKind.Object } v && v.GetProperty("threshold") is { ValueKind: JsonValueKind.Number } t
            ? t.GetDouble()
            : null;

    public async Task<string?> BreachingSinceAsync() =>
        await OnlySeriesAsync() is { } s && s.GetProperty("breachingSince") is { ValueKind: JsonValueKind.String } since ? since.GetString() : null;

    public async Task<DateTimeOffset?> LastEvaluatedAtAsync()
    {
        var t = (await GetJsonAsync("api/v1/policies")).EnumerateArray().Single().GetProperty("lastEvaluatedAt");
        return t.ValueKind == JsonValueKind.String ? DateTimeOffset.Parse(t.GetString()!, System.Globalization.CultureInfo.InvariantCulture) : null;
    }

    public void Dispose() => _http.Dispose();
}
