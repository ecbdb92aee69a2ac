using System.CommandLine;

namespace RollbackSentinel.Cli;

/// <summary>
/// <c>healthcheck</c>: asks a running daemon's <c>/healthz</c> (for container health checks, where images carry no
/// curl). Exit 0 when it answers 2xx within the timeout, 1 otherwise, saying why.
/// </summary>
internal static class HealthcheckCommand
{
    public static Command Create()
    {
        var url = new Option<string?>("--url")
        {
            Description = "The address to ask (default: /healthz on the daemon's listen address, SENTINEL__HTTP__LISTEN, or http://127.0.0.1:8080).",
        };
        var timeout = new Option<double>("--timeout") { Description = "Seconds to wait for the answer.", DefaultValueFactory = _ => 3 };
        var command = new Command("healthcheck", "Check that a running daemon answers /healthz (exit 0) or not (exit 1).") { url, timeout };
        command.SetAction(async (result, ct) =>
        {
            var target = result.GetValue(url) ?? DefaultUrl(Environment.GetEnvironmentVariable(RunCommand.EnvironmentPrefix + "HTTP__LISTEN"));
            if (!Uri.TryCreate(target, UriKind.Absolute, out var parsed) || parsed.Scheme is not ("http" or "https"))
            {
                // A wrong address is the command line's fault (2, as --help says), not the daemon's health (1).
                await result.InvocationConfiguration.Error.WriteLineAsync($"error: '{Api.InputLimits.Shorten(target)}' is not an http:// URL such as http://127.0.0.1:8080/healthz (--url, or SENTINEL__HTTP__LISTEN)").ConfigureAwait(false);
                return ExitCodes.Usage;
            }

            using var http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(Math.Max(0.1, result.GetValue(timeout))) };
            try
            {
                using var response = await http.GetAsync(new Uri(target), ct).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    await result.InvocationConfiguration.Output.WriteLineAsync($"{target}: {(int)response.StatusCode}").ConfigureAwait(false);
                    return ExitCodes.Ok;
                }

                await result.InvocationConfiguration.Error.WriteLineAsync($"unhealthy: {target} answered {(int)response.StatusCode}").ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or UriFormatException)
            {
                await result.InvocationConfiguration.Error.WriteLineAsync($"unhealthy: {target}: {e.Message}").ConfigureAwait(false);
            }

            return ExitCodes.InvalidRules;
        });
        return command;
    }

    /// <summary>/healthz on the listen address, with a wildcard host (0.0.0.0, +, *, [::]) asked on loopback.</summary>
    public static string DefaultUrl(string? listen) => ApiClientOptions.DaemonAddress(listen) + "healthz";
}
