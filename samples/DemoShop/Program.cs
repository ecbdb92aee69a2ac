// DemoShop: the app the blue/green demo deploys twice. Run it as
//   dotnet DemoShop.dll --color green --urls http://127.0.0.1:5001
// (or DEMO_COLOR=green). Endpoints:
//   GET    /              its color, after a simulated latency (HTTP 500 for the simulated share of errors)
//   GET    /metrics       Prometheus text: demo_http_requests_total{color,code}, demo_http_request_duration_seconds
//   GET    /healthz       200 once serving (not counted in the metrics)
//   GET    /admin/fault   the current faults
//   POST   /admin/fault?errorRate=0.5&latencyMs=300   raise faults (each parameter optional; omitted = unchanged)
//   DELETE /admin/fault   clear them
// DEMO_ERROR_RATE (0..1) and DEMO_LATENCY_MS set the faults it starts with.
using System.Diagnostics;
using System.Globalization;
using DemoShop;

var builder = WebApplication.CreateBuilder(args);
builder.Logging.SetMinimumLevel(LogLevel.Warning);

var color = builder.Configuration["color"] ?? Environment.GetEnvironmentVariable("DEMO_COLOR");
if (string.IsNullOrWhiteSpace(color))
{
    await Console.Error.WriteLineAsync("DemoShop: give a color with --color blue|green or DEMO_COLOR");
    return 2;
}

var faults = new FaultSettings();
var startError = ParseOr(Environment.GetEnvironmentVariable("DEMO_ERROR_RATE"), 0.0);
var startLatency = (int)ParseOr(Environment.GetEnvironmentVariable("DEMO_LATENCY_MS"), 0.0);
if (faults.TrySet(startError, startLatency) is { } problem)
{
    await Console.Error.WriteLineAsync($"DemoShop: DEMO_ERROR_RATE/DEMO_LATENCY_MS: {problem}");
    return 2;
}

var metrics = new ShopMetrics(color);
var app = builder.Build();

app.MapGet("/", async (HttpContext context) =>
{
    var started = Stopwatch.GetTimestamp();

    // A few milliseconds of "work" (5-15 ms), plus whatever latency fault is set.
    var delay = TimeSpan.FromMilliseconds(5 + Random.Shared.Next(0, 11) + faults.LatencyMs);
    await Task.Delay(delay, context.RequestAborted);

    var failed = Random.Shared.NextDouble() < faults.ErrorRate;
    var status = failed ? StatusCodes.Status500InternalServerError : StatusCodes.Status200OK;
    metrics.Record(status, Stopwatch.GetElapsedTime(started));
    context.Response.Headers["X-Demo-Color"] = color;
    return failed ? Results.Text($"{color}: simulated failure\n", statusCode: status) : Results.Text(color + "\n");
});

app.MapGet("/metrics", () => Results.Text(metrics.Render(), ShopMetrics.ContentType));
app.MapGet("/healthz", () => Results.Text("ok\n"));
app.MapGet("/admin/fault", () => Results.Ok(faults.Snapshot()));
app.MapPost("/admin/fault", (double? errorRate, int? latencyMs) =>
    faults.TrySet(errorRate ?? faults.ErrorRate, latencyMs ?? faults.LatencyMs) is { } error
        ? Results.Problem(error, statusCode: StatusCodes.Status400BadRequest)
        : Results.Ok(faults.Snapshot()));
app.MapDelete("/admin/fault", () =>
{
    faults.TrySet(0, 0);
    return Results.Ok(faults.Snapshot());
});

await app.RunAsync();
return 0;

static double ParseOr(string? text, double fallback) =>
    string.IsNullOrWhiteSpace(text) ? fallback
    : double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v
    : double.NaN; // rejected by FaultSettings.TrySet with a clear message
