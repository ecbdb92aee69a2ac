using System.CommandLine;
using System.Net.Http.Headers;
using System.Text.Json;

namespace RollbackSentinel.Cli;

/// <summary>
/// How the <c>status</c> and <c>incidents</c> verbs reach a running daemon: its URL and bearer token (from
/// <c>--token-file</c>, <c>SENTINEL_API_TOKEN</c>, or the token file the daemon writes next to its store).
/// </summary>
internal sealed class ApiClientOptions
{
    public Option<string> Url { get; } = new("--url") { Description = "The daemon's API (default http://127.0.0.1:8080).", DefaultValueFactory = _ => "http://127.0.0.1:8080" };

    public Option<FileInfo?> TokenFile { get; } = new("--token-file") { Description = "A file holding the API token (default: $SENTINEL_API_TOKEN, then data/api-token)." };

    public void AddTo(Command command)
    {
        command.Options.Add(Url);
        command.Options.Add(TokenFile);
    }

    /// <summary>GETs a JSON document from the API, or writes a clear error and returns null.</summary>
    public Task<JsonDocument?> GetAsync(ParseResult result, string path, TextWriter error, CancellationToken ct) =>
        SendAsync(result, HttpMethod.Get, path, null, error, ct);

    /// <summary>POSTs a JSON body to the API and returns its JSON answer, or writes a clear error and returns null.</summary>
    public Task<JsonDocument?> PostAsync(ParseResult result, string path, object body, TextWriter error, CancellationToken ct) =>
        SendAsync(result, HttpMethod.Post, path, body, error, ct);

    private async Task<JsonDocument?> SendAsync(ParseResult result, HttpMethod method, string path, object? body, TextWriter error, CancellationToken ct)
    {
        var baseUrl = result.GetRequiredValue(Url).TrimEnd('/');
        var token = ResolveToken(result.GetValue(TokenFile));
        using var http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(10) }; // a 3xx is an answer, never re-sent elsewhere
        using var request = new HttpRequestMessage(method, baseUrl + path);
        if (body is not null)
        {
            request.Content = System.Net.Http.Json.JsonContent.Create(body);
        }

        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        try
        {
            using var response = await http.SendAsync(request, ct).ConfigureAwait(false);
            var text = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                var detail = TryProblemDetail(text) ?? text;
                await error.WriteLineAsync($"error: {baseUrl}{path} answered HTTP {(int)response.StatusCode}: {detail}").ConfigureAwait(false);
                return null;
            }

            return JsonDocument.Parse(text);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException)
        {
            await error.WriteLineAsync($"error: cannot reach the daemon at {baseUrl}: {e.Message}").ConfigureAwait(false);
            return null;
        }
    }

    private static string? ResolveToken(FileInfo? file)
    {
        if (file is not null)
        {
            return File.ReadAllText(file.FullName).Trim();
        }

        if (Environment.GetEnvironmentVariable("SENTINEL_API_TOKEN") is { Length: > 0 } env)
        {
            return env;
        }

        var local = Path.Combine("data", Api.ApiToken.FileName);
        return File.Exists(local) ? File.ReadAllText(local).Trim() : null;
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
