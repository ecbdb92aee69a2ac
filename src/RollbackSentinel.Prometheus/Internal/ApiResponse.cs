using System.Text;
using System.Text.Json;

namespace RollbackSentinel.Prometheus.Internal;

/// <summary>
/// One HTTP answer from the Prometheus API, split into the three shapes it can take: a success
/// envelope with <c>data</c>, an error envelope with <c>errorType</c>/<c>error</c>, or something that
/// is not the API at all (an HTML error page from a proxy, an empty body).
/// </summary>
internal sealed class ApiResponse : IDisposable
{
    private const int BodyPrefixLength = 200;

    private readonly JsonDocument? _document;

    private ApiResponse(int statusCode, JsonDocument? document, string bodyPrefix)
    {
        StatusCode = statusCode;
        _document = document;
        BodyPrefix = bodyPrefix;
        if (document is null)
        {
            return;
        }

        var root = document.RootElement;
        Status = root.GetProperty("status").GetString();
        ErrorType = TryGetString(root, "errorType");
        Error = TryGetString(root, "error");
    }

    public int StatusCode { get; }

    /// <summary>The envelope's <c>status</c>; null when the body was not an API envelope.</summary>
    public string? Status { get; }

    public string? ErrorType { get; }

    public string? Error { get; }

    /// <summary>The start of the body on one line, to show when it is not an API envelope.</summary>
    public string BodyPrefix { get; }

    public bool IsEnvelope => _document is not null;

    public bool IsSuccess => Status == "success";

    public bool IsError => Status == "error";

    /// <summary>The <c>data</c> member of a success envelope.</summary>
    public JsonElement Data =>
        _document is not null && _document.RootElement.TryGetProperty("data", out var data) && data.ValueKind == JsonValueKind.Object
            ? data
            : throw new FormatException("the success response has no \"data\" object");

    public static ApiResponse Parse(int statusCode, ReadOnlyMemory<byte> body)
    {
        var prefix = Prefix(body);
        JsonDocument? document = null;
        try
        {
            document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object
                && root.TryGetProperty("status", out var status)
                && status.ValueKind == JsonValueKind.String)
            {
                var response = new ApiResponse(statusCode, document, prefix);
                document = null;
                return response;
            }
        }
        catch (JsonException)
        {
            // Not JSON: a proxy's HTML page, a plain-text 404, an empty body. Reported with its prefix.
        }
        finally
        {
            document?.Dispose();
        }

        return new ApiResponse(statusCode, null, prefix);
    }

    public void Dispose() => _document?.Dispose();

    private static string? TryGetString(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string Prefix(ReadOnlyMemory<byte> body)
    {
        var text = Encoding.UTF8.GetString(body.Span[..Math.Min(body.Length, BodyPrefixLength * 4)]);
        var sb = new StringBuilder(BodyPrefixLength + 3);
        var pendingSpace = false;
        foreach (var c in text.Trim())
        {
            if (char.IsWhiteSpace(c) || char.IsControl(c))
            {
                pendingSpace = true;
                continue;
            }

            if (sb.Length >= BodyPrefixLength)
            {
                return sb.Append("...").ToString();
            }

            if (pendingSpace)
            {
                sb.Append(' ');
                pendingSpace = false;
            }

            sb.Append(c);
        }

        return sb.ToString();
    }
}
