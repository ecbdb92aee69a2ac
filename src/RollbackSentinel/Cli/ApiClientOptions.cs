using System.CommandLine;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using RollbackSentinel.Api;
using RollbackSentinel.Hosting;

namespace RollbackSentinel.Cli;

/// <summary>
/// How the client verbs (<c>status</c>, <c>incidents</c>, <c>rollback</c>, the answers) find a running daemon: the way
/// <c>run</c> was configured. The settings are read as <c>run</c> reads them (<c>--config FILE</c>, then
/// <c>SENTINEL__*</c> variables): the URL from <c>http.listen</c> (a wildcard host is asked on loopback), the token from
/// <c>http.apiTokenFile</c>, <c>http.apiToken</c>, or the file the daemon generates beside its store
/// (<c>storage.path</c>). <c>--url</c>, <c>--token-file</c> and <c>SENTINEL_API_TOKEN</c> win over the settings.
/// </summary>
internal sealed class ApiClientOptions
{
    /// <summary>The environment variable holding the token for the client verbs (wins over the settings).</summary>
    public const string TokenVariable = "SENTINEL_API_TOKEN";

    public Option<string?> Url { get; } = new("--url") { Description = "The daemon's API (default: from the settings' http.listen, else http://127.0.0.1:8080)." };

    public Option<FileInfo?> TokenFile { get; } = new("--token-file")
    {
        Description = $"A file holding the API token (default: ${TokenVariable}, then the settings' http.apiTokenFile or http.apiToken, then api-token beside storage.path).",
    };

    public Option<FileInfo?> Config { get; } = new("--config") { Description = "The daemon's settings (YAML), as given to 'run --config': where it listens and its token." };

    public void AddTo(Command command)
    {
        command.Options.Add(Url);
        command.Options.Add(TokenFile);
        command.Options.Add(Config);
    }

    /// <summary>The address to ask a daemon listening on <paramref name="listen"/> (its first URL), with a wildcard host asked on loopback; ends with '/'.</summary>
    public static string DaemonAddress(string? listen)
    {
        var first = listen?.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
        if (string.IsNullOrWhiteSpace(first))
        {
            return "http://127.0.0.1:8080/";
        }

        var normalized = first.Replace("://+", "://0.0.0.0", StringComparison.Ordinal).Replace("://*", "://0.0.0.0", StringComparison.Ordinal);
        if (!Uri.TryCreate(normalized, UriKind.Absolute, out var uri))
        {
            return first.TrimEnd('/') + "/";
        }

        var host = uri.Host is "0.0.0.0" or "[::]" or "::" ? "127.0.0.1" : uri.Host;
        return new UriBuilder(uri) { Host = host, Path = "/" }.Uri.ToString();
    }

    /// <summary>GETs a JSON document from the API; on failure writes a clear error and gives the exit code.</summary>
    public Task<ApiAnswer> GetAsync(ParseResult result, string path, CancellationToken ct) =>
        SendAsync(result, HttpMethod.Get, path, null, ct);

    /// <summary>POSTs a JSON body to the API; on failure writes a clear error and gives the exit code.</summary>
    public Task<ApiAnswer> PostAsync<T>(ParseResult result, string path, T body, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> json, CancellationToken ct) =>
        SendAsync(result, HttpMethod.Post, path, System.Net.Http.Json.JsonContent.Create(body, json), ct);

    /// <summary>
    /// GETs a JSON document, taking <paramref name="answers"/> (besides 2xx) as answers too (a closed gate's 409). Writes
    /// nothing: a failure comes back with its message in <see cref="ApiAnswer.Error"/>, for the caller to report.
    /// </summary>
    public Task<ApiAnswer> AskAsync(ParseResult result, string path, IReadOnlyCollection<HttpStatusCode> answers, CancellationToken ct) =>
        SendAsync(result, HttpMethod.Get, path, null, ct, answers, report: false);

    private async Task<ApiAnswer> SendAsync(
        ParseResult result, HttpMethod method, string path, HttpContent? body, CancellationToken ct, IReadOnlyCollection<HttpStatusCode>? answers = null, bool report = true)
    {
        var answer = await TrySendAsync(result, method, path, body, answers ?? [], ct).ConfigureAwait(false);
        if (report && answer.Error is { } message)
        {
            await result.InvocationConfiguration.Error.WriteLineAsync($"error: {message}").ConfigureAwait(false);
        }

        return answer;
    }

    private async Task<ApiAnswer> TrySendAsync(ParseResult result, HttpMethod method, string path, HttpContent? body, IReadOnlyCollection<HttpStatusCode> answers, CancellationToken ct)
    {
        var (target, problem) = Resolve(result);
        if (target is null)
        {
            return ApiAnswer.Failed(ExitCodes.Usage, problem!);
        }

        var (baseUrl, token) = target.Value;
        var url = baseUrl.TrimEnd('/') + path;
        using var http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(10) }; // a 3xx is an answer, never re-sent elsewhere
        using var request = new HttpRequestMessage(method, url);
        if (body is not null)
        {
            request.Content = body;
        }

        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        try
        {
            using var response = await http.SendAsync(request, ct).ConfigureAwait(false);
            var text = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode && !answers.Contains(response.StatusCode))
            {
                var status = (int)response.StatusCode;
                var detail = TryProblemDetail(text) ?? text;
                var hint = response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden
                    ? token is null ? " (no token found: give --token-file or --config, or set " + TokenVariable + ")" : " (check the token: --token-file, --config, " + TokenVariable + ")"
                    : string.Empty;
                return ApiAnswer.Failed(ExitCodeFor(response.StatusCode), $"{url} answered HTTP {status}: {detail}{hint}", response.StatusCode);
            }

            return new ApiAnswer(JsonDocument.Parse(text), ExitCodes.Ok) { Status = response.StatusCode };
        }
        catch (JsonException)
        {
            return ApiAnswer.Failed(ExitCodes.DaemonUnreachable, $"{url} did not answer with JSON: is it a rollback-sentinel daemon?");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return ApiAnswer.Failed(ExitCodes.DaemonUnreachable, $"cannot reach the daemon at {baseUrl}: {e.Message}");
        }
    }

    /// <summary>401 and 403: not authorized; any other 4xx: the daemon refused the request; 5xx: it could not be used.</summary>
    public static int ExitCodeFor(HttpStatusCode status) => (int)status switch
    {
        401 or 403 => ExitCodes.Unauthorized,
        >= 400 and < 500 => ExitCodes.Refused,
        _ => ExitCodes.DaemonUnreachable,
    };

    /// <summary>The daemon's address and token, or why they cannot be worked out (a bad settings or token file).</summary>
    private ((string BaseUrl, string? Token)? Target, string? Problem) Resolve(ParseResult result)
    {
        SentinelOptions settings;
        var config = result.GetValue(Config);
        try
        {
            settings = RunCommand.Load(config?.FullName, new Dictionary<string, string?>());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or YamlDotNet.Core.YamlException or InvalidOperationException)
        {
            return (null, $"cannot read the settings: {e.Message}");
        }

        var baseUrl = result.GetValue(Url) ?? DaemonAddress(settings.Http.Listen);
        if (!Uri.TryCreate(baseUrl, UriKind.Absolute, out var parsed) || parsed.Scheme is not ("http" or "https"))
        {
            return (null, $"'{baseUrl}' is not the daemon's address: give an http:// URL such as http://127.0.0.1:8080 (--url, or http.listen in the settings)");
        }

        string? token;
        try
        {
            token = ResolveToken(result.GetValue(TokenFile), settings);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, $"cannot read the API token: {e.Message}");
        }

        if (token is not null && !ApiToken.IsSendable(token))
        {
            return (null, "the API token has characters that cannot be sent in an HTTP header (it should be the hex string the daemon generated, or what http.apiTokenFile holds)");
        }

        return ((baseUrl, token), null);
    }

    private static string? ResolveToken(FileInfo? file, SentinelOptions settings)
    {
        if (file is not null)
        {
            return ApiToken.ReadFile(file.FullName);
        }

        if (Environment.GetEnvironmentVariable(TokenVariable) is { } env && ApiToken.Normalize(env) is { Length: > 0 } fromEnv)
        {
            return fromEnv;
        }

        if (settings.ResolveApiToken() is { } configured)
        {
            return configured;
        }

        // The token the daemon generates beside its store when none is configured.
        var generated = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(settings.Storage.Path))!, ApiToken.FileName);
        return File.Exists(generated) ? ApiToken.ReadFile(generated) : null;
    }

    private static string? TryProblemDetail(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            return doc.RootElement.TryGetProperty("detail", out var d) ? d.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>The daemon's JSON answer, or (when <see cref="Document"/> is null) the exit code of the failure, reported unless it was asked with <c>AskAsync</c>.</summary>
internal sealed record ApiAnswer(JsonDocument? Document, int ExitCode) : IDisposable
{
    /// <summary>The HTTP status of the answer, or of the refusal; null when none came.</summary>
    public HttpStatusCode? Status { get; init; }

    /// <summary>Why there is no document: one line, without the "error: " prefix.</summary>
    public string? Error { get; init; }

    public static ApiAnswer Failed(int exitCode, string error, HttpStatusCode? status = null) => new(null, exitCode) { Error = error, Status = status };

    public void Dispose() => Document?.Dispose();
}
