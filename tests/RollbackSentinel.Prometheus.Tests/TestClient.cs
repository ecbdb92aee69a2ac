namespace RollbackSentinel.Prometheus.Tests;

/// <summary>A client plus the HttpClient it borrows, disposed together.</summary>
internal sealed class TestClient : IDisposable
{
    private readonly HttpClient _http = new();

    public TestClient(Uri baseAddress, TimeSpan? timeout = null)
        : this(new PrometheusOptions { BaseAddress = baseAddress, Timeout = timeout ?? PrometheusOptions.DefaultTimeout })
    {
    }

    public TestClient(PrometheusOptions options)
    {
        Client = new PrometheusClient(_http, options);
    }

    public PrometheusClient Client { get; }

    public void Dispose() => _http.Dispose();
}
