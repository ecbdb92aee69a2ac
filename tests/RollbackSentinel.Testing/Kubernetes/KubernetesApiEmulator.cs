using System.Collections.Specialized;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using System.Web;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace RollbackSentinel.Testing.Kubernetes;

/// <summary>A request the emulator received, as kubectl sent it.</summary>
public sealed record EmulatorRequest(string Method, string Path, string Query, string? ContentType, string Body)
{
    public bool IsPatch => Method == "PATCH";

    public bool IsWrite => Method is "PATCH" or "PUT" or "POST" or "DELETE";

    public override string ToString() => $"{Method} {Path}{(Query.Length > 0 ? "?" + Query : "")}{(ContentType is null ? "" : $" [{ContentType}]")}{(Body.Length > 0 ? " " + Body : "")}";
}

/// <summary>
/// A small, in-memory stand-in for a Kubernetes API server that the real <c>kubectl</c> can talk to (no real API
/// server can run in tests): discovery, get/list/watch, and PATCH (JSON, merge and a strategic-merge subset) of
/// Deployments, ReplicaSets, StatefulSets, DaemonSets, ControllerRevisions and Argo Rollouts. Writes go through
/// small controllers that act as Kubernetes' do: a Deployment whose template changes gets the ReplicaSet with that
/// template (an old one's revision bumped to max+1 with its old number appended to its revision-history, as on undo,
/// or a new one), its revision annotation, generation and status; StatefulSets and DaemonSets get ControllerRevisions
/// the same way. Controllers can be paused (the lag before they sync), and requests refused, delayed or held
/// (<see cref="FailNext"/>, <see cref="DelayNext"/>, <see cref="HoldNext"/>). Every request is logged; the bearer
/// token is checked. HTTPS (kubectl sends a token over TLS only) on a free loopback port, with a self-signed
/// certificate the kubeconfig trusts; dispose to stop it.
/// </summary>
public sealed partial class KubernetesApiEmulator : IAsyncDisposable
{
    private static readonly Lazy<X509Certificate2> Certificate = new(CreateCertificate);

    private readonly WebApplication _app;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<EmulatorRequest> _requests = [];
    private readonly List<Watcher> _watchers = [];
    private readonly SortedDictionary<string, JsonObject> _objects = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private long _resourceVersion = 100;
    private int _uid;
    private bool _disposed;

    private KubernetesApiEmulator()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(Certificate.Value)));
        _app = builder.Build();
        _app.Run(HandleAsync);
    }

    /// <summary>The server root, e.g. <c>https://127.0.0.1:41234/</c>.</summary>
    public Uri BaseAddress { get; private set; } = new("https://127.0.0.1/");

    /// <summary>The bearer token the kubeconfig carries; requests without it get 401.</summary>
    public string Token { get; } = "emulator-token-" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>The kubeconfig context <see cref="WriteKubeconfig"/> names (and makes current).</summary>
    public string ContextName => "emulator";

    /// <summary>
    /// When false, controllers observe changes but report the rollout as never finishing (updated replicas stay
    /// at 0), so <c>kubectl rollout status</c> waits until its timeout. True by default.
    /// </summary>
    public bool RolloutsComplete { get; set; } = true;

    /// <summary>Every request received, in arrival order (discovery included).</summary>
    public IReadOnlyList<EmulatorRequest> Requests
    {
        get
        {
            lock (_gate)
            {
                return [.. _requests];
            }
        }
    }

    /// <summary>The PATCH/PUT/POST/DELETE requests received.</summary>
    public IReadOnlyList<EmulatorRequest> Writes => [.. Requests.Where(r => r.IsWrite)];

    public static async Task<KubernetesApiEmulator> StartAsync()
    {
        var emulator = new KubernetesApiEmulator();
        await emulator._app.StartAsync();
        var address = emulator._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        emulator.BaseAddress = new Uri(address.Replace("[::1]", "127.0.0.1", StringComparison.Ordinal).TrimEnd('/') + "/");
        return emulator;
    }

    /// <summary>Writes a kubeconfig (server, its certificate, token, context <see cref="ContextName"/>, namespace) and returns its path.</summary>
    public string WriteKubeconfig(string directory, string defaultNamespace = "default")
    {
        var path = Path.Combine(directory, "kubeconfig");
        var server = BaseAddress.AbsoluteUri.TrimEnd('/');
        var ca = Convert.ToBase64String(Encoding.ASCII.GetBytes(Certificate.Value.ExportCertificatePem()));
        File.WriteAllText(path, $"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: emulator
              cluster:
                server: {server}
                certificate-authority-data: {ca}
            users:
            - name: emulator
              user:
                token: {Token}
            contexts:
            - name: {ContextName}
              context:
                cluster: emulator
                user: emulator
                namespace: {defaultNamespace}
            current-context: {ContextName}

            """);
        return path;
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        await _stopping.CancelAsync();
        lock (_gate)
        {
            foreach (var watcher in _watchers)
            {
                watcher.Events.Writer.TryComplete();
            }
        }

        using (var stopDeadline = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            await _app.StopAsync(stopDeadline.Token);
        }

        await _app.DisposeAsync();
        _stopping.Dispose();
    }

    private static X509Certificate2 CreateCertificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=kubernetes-api-emulator", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var notBefore = new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero);
        using var created = request.CreateSelfSigned(notBefore, notBefore.AddYears(30));
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pfx), null);
    }

    private async Task HandleAsync(HttpContext context)
    {
        var http = context.Request;
        string body;
        using (var reader = new StreamReader(http.Body, Encoding.UTF8))
        {
            body = await reader.ReadToEndAsync(context.RequestAborted);
        }

        var rawQuery = http.QueryString.HasValue ? http.QueryString.Value![1..] : "";
        var path = http.Path.Value ?? "/";
        var request = new EmulatorRequest(http.Method, path, Uri.UnescapeDataString(rawQuery), http.ContentType, body);
        lock (_gate)
        {
            _requests.Add(request);
        }

        var response = context.Response;
        if (http.Headers.Authorization.ToString() != $"Bearer {Token}")
        {
            await WriteAsync(response, 401, StatusObject(401, "Unauthorized", "Unauthorized"));
            return;
        }

        if (await ApplyFaultAsync(request, context))
        {
            return;
        }

        var parameters = HttpUtility.ParseQueryString(rawQuery);
        if (http.Method == "GET" && parameters["watch"] is "true" or "1")
        {
            await WatchAsync(response, path, parameters, context.RequestAborted);
            return;
        }

        var (status, answer) = Route(http.Method, path, parameters, http.ContentType, body);
        await WriteAsync(response, status, answer);
    }

    private static async Task WriteAsync(HttpResponse response, int status, JsonNode answer)
    {
        var bytes = Encoding.UTF8.GetBytes(answer.ToJsonString());
        response.StatusCode = status;
        response.ContentType = "application/json";
        response.ContentLength = bytes.Length;
        await response.Body.WriteAsync(bytes);
    }

    private (int Status, JsonNode Body) Route(string method, string path, NameValueCollection query, string? contentType, string body)
    {
        var segments = path.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        switch (segments)
        {
            case ["version"]:
                return (200, new JsonObject
                {
                    ["major"] = "1", ["minor"] = "32", ["gitVersion"] = "v1.32.0-emulator", ["gitCommit"] = "0", ["gitTreeState"] = "clean",
                    ["buildDate"] = "2025-01-01T00:00:00Z", ["goVersion"] = "go1.23", ["compiler"] = "gc", ["platform"] = "linux/amd64",
                });
            case ["api"]:
                return (200, new JsonObject { ["kind"] = "APIVersions", ["versions"] = new JsonArray("v1"), ["serverAddressByClientCIDRs"] = new JsonArray() });
            case ["apis"]:
                return (200, EmulatedResource.Groups());
            case ["api", var v] when v == "v1":
                return (200, EmulatedResource.Discovery("", v));
            case ["apis", var g, var v] when EmulatedResource.All.Any(r => r.Group == g && r.Version == v):
                return (200, EmulatedResource.Discovery(g, v));
            case ["api", var v, "namespaces", var ns, var plural, .. var rest]:
                return Resource(method, "", v, ns, plural, rest, query, contentType, body);
            case ["apis", var g, var v, "namespaces", var ns, var plural, .. var rest]:
                return Resource(method, g, v, ns, plural, rest, query, contentType, body);
            default:
                return (404, StatusObject(404, "NotFound", "the server could not find the requested resource"));
        }
    }

    private (int Status, JsonNode Body) Resource(string method, string group, string version, string ns, string plural, string[] rest, NameValueCollection query, string? contentType, string body)
    {
        var type = EmulatedResource.Find(group, version, plural);
        if (type is null || rest.Length > 2 || (rest.Length == 2 && rest[1] != "status"))
        {
            return (404, StatusObject(404, "NotFound", "the server could not find the requested resource"));
        }

        lock (_gate)
        {
            if (rest.Length == 0)
            {
                return method == "GET"
                    ? (200, List(type, ns, query))
                    : (405, StatusObject(405, "MethodNotAllowed", $"{method} of a collection is not supported by the emulator"));
            }

            var name = rest[0];
            if (!_objects.TryGetValue(Key(type.Plural, ns, name), out var current))
            {
                return (404, NotFound(type, name));
            }

            switch (method)
            {
                case "GET":
                    return (200, EmulatorJson.Clone(current));
                case "PATCH":
                    JsonObject patched;
                    try
                    {
                        var patch = EmulatorJson.Parse(body);
                        patched = contentType?.Split(';')[0].Trim() switch
                        {
                            "application/json-patch+json" => EmulatorJson.JsonPatch(current, patch as JsonArray ?? throw new InvalidOperationException("a JSON patch must be an array")),
                            "application/merge-patch+json" => (JsonObject)EmulatorJson.MergePatch(current, patch, strategic: false)!,
                            "application/strategic-merge-patch+json" => (JsonObject)EmulatorJson.MergePatch(current, patch, strategic: true)!,
                            _ => throw new NotSupportedException($"patch type {contentType} is not supported by the emulator"),
                        };
                    }
                    catch (NotSupportedException e)
                    {
                        return (415, StatusObject(415, "UnsupportedMediaType", e.Message));
                    }
                    catch (Exception e) when (e is InvalidOperationException or System.Text.Json.JsonException or FormatException or ArgumentOutOfRangeException)
                    {
                        return (422, StatusObject(422, "Invalid", e.Message));
                    }

                    if (rest.Length == 2)
                    {
                        // The status subresource: only status changes.
                        var onlyStatus = EmulatorJson.Clone(current);
                        onlyStatus["status"] = patched["status"]?.DeepClone();
                        patched = onlyStatus;
                    }
                    else
                    {
                        patched["status"] = current["status"]?.DeepClone();
                    }

                    // Identity is the server's.
                    var meta = EmulatorJson.Ensure(patched, "metadata");
                    foreach (var field in new[] { "name", "namespace", "uid", "creationTimestamp" })
                    {
                        meta[field] = current["metadata"]?[field]?.DeepClone();
                    }

                    patched["apiVersion"] = type.ApiVersion;
                    patched["kind"] = type.Kind;
                    return (200, EmulatorJson.Clone(Store(type, patched, current)));
                default:
                    return (405, StatusObject(405, "MethodNotAllowed", $"{method} is not supported by the emulator"));
            }
        }
    }

    private JsonObject List(EmulatedResource type, string ns, NameValueCollection query)
    {
        var items = new JsonArray();
        foreach (var item in Matching(type, ns, query["labelSelector"], query["fieldSelector"]))
        {
            items.Add(EmulatorJson.Clone(item));
        }

        return new JsonObject
        {
            ["kind"] = type.Kind + "List",
            ["apiVersion"] = type.ApiVersion,
            ["metadata"] = new JsonObject { ["resourceVersion"] = _resourceVersion.ToString(CultureInfo.InvariantCulture) },
            ["items"] = items,
        };
    }

    private IEnumerable<JsonObject> Matching(EmulatedResource type, string ns, string? labelSelector, string? fieldSelector) =>
        _objects.Where(kv => kv.Key.StartsWith(Key(type.Plural, ns, ""), StringComparison.Ordinal))
            .Select(kv => kv.Value)
            .Where(o => Selects(labelSelector, o["metadata"]?["labels"] as JsonObject) && FieldSelects(fieldSelector, o));

    private static bool Selects(string? selector, JsonObject? labels)
    {
        if (string.IsNullOrWhiteSpace(selector))
        {
            return true;
        }

        foreach (var term in selector.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string? Label(string name) => EmulatorJson.Str(labels, name.Trim());
            var ok = term switch
            {
                _ when term.Contains("!=", StringComparison.Ordinal) => Label(term.Split("!=")[0]) != term.Split("!=")[1].Trim(),
                _ when term.Contains("==", StringComparison.Ordinal) => Label(term.Split("==")[0]) == term.Split("==")[1].Trim(),
                _ when term.Contains('=', StringComparison.Ordinal) => Label(term.Split('=')[0]) == term.Split('=')[1].Trim(),
                _ when term.StartsWith('!') => Label(term[1..]) is null,
                _ => Label(term) is not null,
            };
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }

    private static bool FieldSelects(string? selector, JsonObject item)
    {
        if (string.IsNullOrWhiteSpace(selector))
        {
            return true;
        }

        foreach (var term in selector.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = term.Split('=', 2);
            var value = EmulatorJson.Str(item, parts[0].Split('.'));
            if (parts.Length != 2 || value != parts[1])
            {
                return false;
            }
        }

        return true;
    }

    private async Task WatchAsync(HttpResponse response, string path, NameValueCollection query, CancellationToken aborted)
    {
        var segments = path.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        var (type, ns) = segments switch
        {
            ["api", var v, "namespaces", var n, var p] => (EmulatedResource.Find("", v, p), n),
            ["apis", var g, var v, "namespaces", var n, var p] => (EmulatedResource.Find(g, v, p), n),
            _ => (null, ""),
        };
        if (type is null)
        {
            await WriteAsync(response, 404, StatusObject(404, "NotFound", "the server could not find the requested resource"));
            return;
        }

        var watcher = new Watcher(type.Plural, ns, query["labelSelector"], query["fieldSelector"], Channel.CreateUnbounded<JsonObject>());
        lock (_gate)
        {
            _watchers.Add(watcher);
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token, aborted);
        if (int.TryParse(query["timeoutSeconds"], CultureInfo.InvariantCulture, out var seconds) && seconds > 0)
        {
            deadline.CancelAfter(TimeSpan.FromSeconds(seconds));
        }

        try
        {
            response.StatusCode = 200;
            response.ContentType = "application/json";
            await response.Body.FlushAsync(deadline.Token);
            await foreach (var changed in watcher.Events.Reader.ReadAllAsync(deadline.Token))
            {
                var line = new JsonObject { ["type"] = "MODIFIED", ["object"] = changed }.ToJsonString() + "\n";
                await response.Body.WriteAsync(Encoding.UTF8.GetBytes(line), deadline.Token);
                await response.Body.FlushAsync(deadline.Token);
            }
        }
        catch (OperationCanceledException)
        {
            // timeoutSeconds ran out (a clean end, as an API server does), the client left, or the emulator stops.
        }
        finally
        {
            lock (_gate)
            {
                _watchers.Remove(watcher);
            }
        }
    }

    private static string Key(string plural, string ns, string name) => $"{plural}/{ns}/{name}";

    private static JsonObject StatusObject(int code, string reason, string message) => new()
    {
        ["kind"] = "Status",
        ["apiVersion"] = "v1",
        ["metadata"] = new JsonObject(),
        ["status"] = "Failure",
        ["message"] = message,
        ["reason"] = reason,
        ["code"] = code,
    };

    private static JsonObject NotFound(EmulatedResource type, string name)
    {
        var status = StatusObject(404, "NotFound", $"{type.GroupResource} \"{name}\" not found");
        status["details"] = new JsonObject { ["name"] = name, ["group"] = type.Group, ["kind"] = type.Plural };
        return status;
    }

    private sealed record Watcher(string Plural, string Namespace, string? LabelSelector, string? FieldSelector, Channel<JsonObject> Events);
}
