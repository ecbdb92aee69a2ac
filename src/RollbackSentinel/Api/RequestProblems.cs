using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Metadata;

namespace RollbackSentinel.Api;

/// <summary>
/// Request bodies: each endpoint that reads one carries its size limit (<see cref="BodySizeLimit"/>, applied by routing
/// before the endpoint runs), and a request Kestrel refuses while it is read (too large, malformed, cut short) is
/// answered with problem details and its own status (413, 400) and logged as one line, not as a 500 with a stack trace.
/// </summary>
internal static partial class RequestProblems
{
    /// <summary>
    /// Every 413 says the limit, whoever refused the body: an endpoint reading it itself, or parameter binding
    /// (which answers 413 with an empty body that the status-code pages turn into problem details).
    /// </summary>
    public static IServiceCollection AddRequestProblems(this IServiceCollection services) =>
        services.Configure<ProblemDetailsOptions>(o => o.CustomizeProblemDetails = c =>
        {
            if (c.ProblemDetails.Status == StatusCodes.Status413PayloadTooLarge)
            {
                c.ProblemDetails.Title = "request body too large";
                c.ProblemDetails.Detail ??= c.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize is { } max
                    ? $"the body may be at most {max} bytes"
                    : null;
            }
        });

    /// <summary>Turns <see cref="BadHttpRequestException"/> into problem details; goes after the exception handler.</summary>
    public static IApplicationBuilder UseRequestProblems(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (BadHttpRequestException e) when (!context.Response.HasStarted)
        {
            var reason = Refused(context, e.StatusCode, e.Message);
            context.Response.Clear();
            await Results.Problem(
                title: e.StatusCode == StatusCodes.Status413PayloadTooLarge ? "request body too large" : "bad request",
                detail: reason,
                statusCode: e.StatusCode).ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        // Parameter binding and the Slack endpoints refuse a large body themselves (no exception gets here): one line too.
        if (context.Response.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            Refused(context, StatusCodes.Status413PayloadTooLarge, "the body is too large");
        }
    });

    /// <summary>Logs a refused request as one line and gives the reason to answer with (for a 413, the limit).</summary>
    private static string Refused(HttpContext context, int status, string message)
    {
        var reason = status == StatusCodes.Status413PayloadTooLarge && context.Features.Get<IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize is { } max
            ? $"the body may be at most {max} bytes"
            : message;
        LogRefused(context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(RequestProblems)), context.Request.Method, context.Request.Path.ToString(), status, reason);
        return reason;
    }

    /// <summary>Limits the body of the endpoints it is put on.</summary>
    public static TBuilder WithBodyLimit<TBuilder>(this TBuilder builder, long maxBytes)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new BodySizeLimit(maxBytes));

    [LoggerMessage(EventId = 760, Level = LogLevel.Warning, Message = "Request {Method} {Path} refused with {Status}: {Reason}")]
    private static partial void LogRefused(ILogger logger, string method, string path, int status, string reason);
}

/// <summary>The largest request body an endpoint accepts (routing applies it to Kestrel's limit for the request).</summary>
internal sealed record BodySizeLimit(long? MaxRequestBodySize) : IRequestSizeLimitMetadata;
