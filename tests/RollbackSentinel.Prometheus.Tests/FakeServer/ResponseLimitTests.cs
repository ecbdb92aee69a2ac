using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Testing.Net;

namespace RollbackSentinel.Prometheus.Tests.FakeServer;

/// <summary>
/// A Prometheus (or something posing as one) that answers too much, or elsewhere: every cap and every redirect is
/// an error naming what was refused, and nothing past a cap is read.
/// </summary>
public sealed class ResponseLimitTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 20, 0, 0, 0, TimeSpan.Zero);

    private static string Vector(int series, string? labelValue = null) =>
        """{"status":"success","data":{"resultType":"vector","result":["""
        + string.Join(",", Enumerable.Range(0, series).Select(i => $$"""{"metric":{"pod":"{{labelValue ?? "p" + i}}","n":"{{i}}"},"value":[1795132800,"0.9"]}"""))
        + "]}}";

    private static string Matrix(int series) =>
        """{"status":"success","data":{"resultType":"matrix","result":["""
        + string.Join(",", Enumerable.Range(0, series).Select(i => $$"""{"metric":{"pod":"p{{i}}"},"values":[[1795132800,"1"]]}"""))
        + "]}}";

    [Fact]
    public async Task QueryAsync_RedirectToAnotherServer_IsAnErrorAndTheOtherServerGetsNoQuery()
    {
        await using var other = LoopbackHttpServer.Start(new CannedResponse(200, Vector(1)));
        var elsewhere = new Uri(other.BaseAddress, "api/v1/query?token=abc");
        await using var server = LoopbackHttpServer.Start(
            new CannedResponse(307, string.Empty, "text/plain") { Headers = new Dictionary<string, string> { ["Location"] = elsewhere.AbsoluteUri } });
        using var http = new HttpClient(PrometheusClient.CreateHandler());
        var client = new PrometheusClient(http, new PrometheusOptions { BaseAddress = server.BaseAddress });

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => client.QueryAsync("up", At, CancellationToken.None));

        Assert.Equal(MetricsErrorKind.InvalidResponse, ex.Kind);
        Assert.Equal(307, ex.StatusCode);
        Assert.Equal(
            $"Prometheus at {server.BaseAddress} answered HTTP 307 redirecting to http://{other.BaseAddress.Authority}/api/v1/query for query \"up\"; "
            + "redirects are not followed: set the Prometheus URL to the address that answers.",
            ex.Message);
        Assert.Empty(other.Requests);
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task QueryAsync_HttpClientThatFollowsRedirects_TheOtherServersAnswerIsNotUsed()
    {
        // A caller's own HttpClient may follow redirects; the answer of a server nobody configured is still refused.
        await using var other = LoopbackHttpServer.Start(new CannedResponse(200, Vector(1)));
        await using var server = LoopbackHttpServer.Start(
            new CannedResponse(307, string.Empty, "text/plain") { Headers = new Dictionary<string, string> { ["Location"] = new Uri(other.BaseAddress, "api/v1/query").AbsoluteUri } });
        using var test = new TestClient(server.BaseAddress);

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => test.Client.QueryAsync("up", At, CancellationToken.None));

        Assert.Contains($"redirected the query to http://{other.BaseAddress.Authority}/api/v1/query", ex.Message, StringComparison.Ordinal);
        Assert.Contains("redirects are not followed", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task QueryAsync_EndlessBody_StopsReadingAtMaxResponseBytes()
    {
        await using var server = EndlessHttpServer.Start(declaredLength: null);
        var counter = new CountingHandler(PrometheusClient.CreateHandler());
        using var http = new HttpClient(counter);
        var client = new PrometheusClient(http, new PrometheusOptions { BaseAddress = server.BaseAddress, MaxResponseBytes = 1024 * 1024 });

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => client.QueryAsync("up", At, CancellationToken.None));

        Assert.Equal(MetricsErrorKind.InvalidResponse, ex.Kind);
        Assert.Contains("answered more than the maxResponseBytes cap of 1048576 bytes (1 MiB) for query \"up\"; the rest was not read", ex.Message, StringComparison.Ordinal);
        Assert.InRange(counter.BytesRead, 1024 * 1024, (1024 * 1024) + 1);
    }

    [Fact]
    public async Task QueryAsync_DeclaredLengthAboveMaxResponseBytes_IsRefusedWithoutReadingTheBody()
    {
        await using var server = EndlessHttpServer.Start(declaredLength: 10L * 1024 * 1024 * 1024);
        var counter = new CountingHandler(PrometheusClient.CreateHandler());
        using var http = new HttpClient(counter);
        var client = new PrometheusClient(http, new PrometheusOptions { BaseAddress = server.BaseAddress });

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => client.QueryAsync("up", At, CancellationToken.None));

        Assert.Contains("the maxResponseBytes cap of 67108864 bytes (64 MiB)", ex.Message, StringComparison.Ordinal);
        Assert.Equal(0, counter.BytesRead);
    }

    [Fact]
    public async Task QueryAsync_MoreSeriesThanMaxSeries_IsAnErrorNamingTheCap()
    {
        await using var server = LoopbackHttpServer.Start(new CannedResponse(200, Vector(11)));
        using var test = new TestClient(new PrometheusOptions { BaseAddress = server.BaseAddress, MaxSeries = 10 });

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => test.Client.QueryAsync("up", At, CancellationToken.None));

        Assert.Equal(MetricsErrorKind.InvalidResponse, ex.Kind);
        Assert.Equal(
            $"Prometheus at {server.BaseAddress} returned a result past a cap for query \"up\": it has 11 series, more than the maxSeries cap of 10; "
            + "aggregate the query (e.g. sum by (...)) or raise prometheus.limits.maxSeries (--prometheus-max-series).",
            ex.Message);
    }

    [Fact]
    public async Task QueryAsync_ExactlyMaxSeries_IsRead()
    {
        await using var server = LoopbackHttpServer.Start(new CannedResponse(200, Vector(10)));
        using var test = new TestClient(new PrometheusOptions { BaseAddress = server.BaseAddress, MaxSeries = 10 });

        var samples = await test.Client.QueryAsync("up", At, CancellationToken.None);

        Assert.Equal(Enumerable.Range(0, 10).Select(i => $"p{i}"), samples.Select(s => s.Labels["pod"]));
    }

    [Fact]
    public async Task QueryRangeAsync_MoreSeriesThanMaxSeries_IsAnErrorNamingTheCap()
    {
        await using var server = LoopbackHttpServer.Start(new CannedResponse(200, Matrix(3)));
        using var test = new TestClient(new PrometheusOptions { BaseAddress = server.BaseAddress, MaxSeries = 2 });

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(
            () => test.Client.QueryRangeAsync("up", At, At.AddMinutes(1), TimeSpan.FromSeconds(15), CancellationToken.None));

        Assert.Contains("it has 3 series, more than the maxSeries cap of 2", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task QueryAsync_HugeLabelValue_IsAnErrorNamingTheCapWithoutTheValue()
    {
        var huge = new string('x', 5 * 1024 * 1024);
        await using var server = LoopbackHttpServer.Start(new CannedResponse(200, Vector(1, huge)));
        using var test = new TestClient(server.BaseAddress);

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => test.Client.QueryAsync("up", At, CancellationToken.None));

        Assert.Equal(MetricsErrorKind.InvalidResponse, ex.Kind);
        Assert.Contains(
            "label \"pod\" has a value of 5242880 characters, longer than the maxLabelLength cap of 1024; drop the label",
            ex.Message,
            StringComparison.Ordinal);
        Assert.True(ex.Message.Length < 1000, "the message must not carry the value");
    }

    [Fact]
    public async Task QueryAsync_HugeLabelName_IsAnErrorNamingTheCap()
    {
        var name = new string('l', 300);
        await using var server = LoopbackHttpServer.Start(new CannedResponse(
            200, $$$"""{"status":"success","data":{"resultType":"vector","result":[{"metric":{"{{{name}}}":"v"},"value":[1795132800,"1"]}]}}"""));
        using var test = new TestClient(new PrometheusOptions { BaseAddress = server.BaseAddress, MaxLabelLength = 100 });

        var ex = await Assert.ThrowsAsync<MetricsQueryException>(() => test.Client.QueryAsync("up", At, CancellationToken.None));

        Assert.Contains("a label name of 300 characters (\"llllllllllllllllllll...\") is longer than the maxLabelLength cap of 100", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0L, 1, 1, "MaxResponseBytes must be between 1 and 1073741824 (1 GiB); got 0.")]
    [InlineData(1L, 0, 1, "MaxSeries must be at least 1; got 0.")]
    [InlineData(1L, 1, 0, "MaxLabelLength must be at least 1; got 0.")]
    public void Validate_LimitsBelowOne_AreProblems(long bytes, int series, int label, string expected) =>
        Assert.Equal([expected], new PrometheusOptions { MaxResponseBytes = bytes, MaxSeries = series, MaxLabelLength = label }.Validate());

    /// <summary>Counts the bytes the client reads of each response body.</summary>
    private sealed class CountingHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
    {
        private long _bytesRead;

        public long BytesRead => Interlocked.Read(ref _bytesRead);

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            var counted = new StreamContent(new CountingStream(await response.Content.ReadAsStreamAsync(cancellationToken), this));
            foreach (var header in response.Content.Headers)
            {
                counted.Headers.TryAddWithoutValidation(header.Key, header.Value);
            }

            response.Content = counted;
            return response;
        }

        private sealed class CountingStream(Stream inner, CountingHandler owner) : Stream
        {
            public override bool CanRead => true;

            public override bool CanSeek => false;

            public override bool CanWrite => false;

            public override long Length => throw new NotSupportedException();

            public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

            public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

            public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
                Count(await inner.ReadAsync(buffer, cancellationToken));

            public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
                ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

            public override void Flush()
            {
            }

            public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

            public override void SetLength(long value) => throw new NotSupportedException();

            public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

            protected override void Dispose(bool disposing)
            {
                if (disposing)
                {
                    inner.Dispose();
                }

                base.Dispose(disposing);
            }

            private int Count(int read)
            {
                Interlocked.Add(ref owner._bytesRead, read);
                return read;
            }
        }
    }
}
