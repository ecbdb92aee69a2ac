using System.Diagnostics.Metrics;
using System.Text;
using RollbackSentinel.Telemetry;
using static RollbackSentinel.Cli.Tests.Telemetry.ExporterHarness;

namespace RollbackSentinel.Cli.Tests.Telemetry;

public sealed class PrometheusExporterTests
{
    [Fact]
    public void Collect_CounterWithoutTotalSuffix_AddsTotalAndSumsEachTagSet()
    {
        using var h = new ExporterHarness();
        var requests = h.Meter.CreateCounter<long>("http.requests", description: "Requests served.");

        requests.Add(2, new KeyValuePair<string, object?>("code", "200"));
        requests.Add(3, new KeyValuePair<string, object?>("code", "200"));
        requests.Add(1, new KeyValuePair<string, object?>("code", "500"));

        Assert.Equal(
            Text(
                "# HELP http_requests_total Requests served.",
                "# TYPE http_requests_total counter",
                "http_requests_total{code=\"200\"} 5",
                "http_requests_total{code=\"500\"} 1"),
            h.Collect());
    }

    [Fact]
    public void Collect_CounterAlreadyEndingInTotal_KeepsOneSuffixAndPutsTheUnitBeforeIt()
    {
        using var h = new ExporterHarness();
        h.Meter.CreateCounter<long>("jobs_total", description: "Jobs.").Add(4);
        var cpu = h.Meter.CreateCounter<double>("cpu.time_total", unit: "s", description: "CPU time.");

        cpu.Add(0.5);
        cpu.Add(0.25);

        Assert.Equal(
            Text(
                "# HELP cpu_time_seconds_total CPU time.",
                "# TYPE cpu_time_seconds_total counter",
                "cpu_time_seconds_total 0.75",
                "# HELP jobs_total Jobs.",
                "# TYPE jobs_total counter",
                "jobs_total 4"),
            h.Collect());
    }

    [Fact]
    public void Collect_NegativeOrNaNCounterIncrements_AreDropped()
    {
        using var h = new ExporterHarness();
        var longs = h.Meter.CreateCounter<long>("longs", description: "L.");
        var doubles = h.Meter.CreateCounter<double>("doubles", description: "D.");

        longs.Add(5);
        longs.Add(-3);
        doubles.Add(1.5);
        doubles.Add(-1);
        doubles.Add(double.NaN);

        Assert.Equal(
            Text(
                "# HELP doubles_total D.",
                "# TYPE doubles_total counter",
                "doubles_total 1.5",
                "# HELP longs_total L.",
                "# TYPE longs_total counter",
                "longs_total 5"),
            h.Collect());
    }

    [Fact]
    public void Collect_UpDownCounterAndGauge_AreGaugesWithSumAndLastValue()
    {
        using var h = new ExporterHarness();
        var depth = h.Meter.CreateUpDownCounter<int>("queue.depth", description: "Items waiting.");
        var temperature = h.Meter.CreateGauge<double>("temperature", unit: "Cel", description: "Temperature.");

        depth.Add(5);
        depth.Add(-2);
        temperature.Record(1.5);
        temperature.Record(-2.5);

        Assert.Equal(
            Text(
                "# HELP queue_depth Items waiting.",
                "# TYPE queue_depth gauge",
                "queue_depth 3",
                "# HELP temperature_celsius Temperature.",
                "# TYPE temperature_celsius gauge",
                "temperature_celsius -2.5"),
            h.Collect());
    }

    [Fact]
    public void Collect_ObservableInstruments_AreReadAtScrapeTime()
    {
        using var h = new ExporterHarness();
        var value = 1.0;
        h.Meter.CreateObservableGauge("ratio", () => value, unit: "1", description: "A ratio.");
        h.Meter.CreateObservableCounter("ticks", () => 41L, description: "Ticks so far.");
        h.Meter.CreateObservableUpDownCounter("open.files", () => 7, description: "Open files.");

        var first = h.Collect();
        value = 0.5;
        var second = h.Collect();

        Assert.Contains("ratio 1\n", first);
        Assert.Equal(
            Text(
                "# HELP open_files Open files.",
                "# TYPE open_files gauge",
                "open_files 7",
                "# HELP ratio A ratio.",
                "# TYPE ratio gauge",
                "ratio 0.5",
                "# HELP ticks_total Ticks so far.",
                "# TYPE ticks_total counter",
                "ticks_total 41"),
            second);
    }

    [Fact]
    public void Collect_HistogramWithoutAdvice_UsesDefaultBucketsCumulativelyWithInfSumAndCount()
    {
        using var h = new ExporterHarness();
        var latency = h.Meter.CreateHistogram<double>("request.latency", unit: "s", description: "Latency.");

        // 0.25 lies on a bound: buckets are "less than or equal".
        foreach (var v in new[] { 0.00390625, 0.25, 0.75, 42 })
        {
            latency.Record(v);
        }

        Assert.Equal(
            Text(
                "# HELP request_latency_seconds Latency.",
                "# TYPE request_latency_seconds histogram",
                "request_latency_seconds_bucket{le=\"0.005\"} 1",
                "request_latency_seconds_bucket{le=\"0.01\"} 1",
                "request_latency_seconds_bucket{le=\"0.025\"} 1",
                "request_latency_seconds_bucket{le=\"0.05\"} 1",
                "request_latency_seconds_bucket{le=\"0.1\"} 1",
                "request_latency_seconds_bucket{le=\"0.25\"} 2",
                "request_latency_seconds_bucket{le=\"0.5\"} 2",
                "request_latency_seconds_bucket{le=\"1\"} 3",
                "request_latency_seconds_bucket{le=\"2.5\"} 3",
                "request_latency_seconds_bucket{le=\"5\"} 3",
                "request_latency_seconds_bucket{le=\"10\"} 3",
                "request_latency_seconds_bucket{le=\"+Inf\"} 4",
                "request_latency_seconds_sum 43.00390625",
                "request_latency_seconds_count 4"),
            h.Collect());
    }

    [Fact]
    public void Collect_HistogramWithAdvisedBuckets_UsesThemPerTagSetWithLeLast()
    {
        using var h = new ExporterHarness();
        var payload = h.Meter.CreateHistogram(
            "payload.size",
            unit: "By",
            description: "Payload size.",
            tags: null,
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1, 5] });

        payload.Record(1, new KeyValuePair<string, object?>("route", "/b"));
        payload.Record(3, new KeyValuePair<string, object?>("route", "/b"));
        payload.Record(7, new KeyValuePair<string, object?>("route", "/b"));
        payload.Record(100, new KeyValuePair<string, object?>("route", "/a"));

        Assert.Equal(
            Text(
                "# HELP payload_size_bytes Payload size.",
                "# TYPE payload_size_bytes histogram",
                "payload_size_bytes_bucket{route=\"/a\",le=\"1\"} 0",
                "payload_size_bytes_bucket{route=\"/a\",le=\"5\"} 0",
                "payload_size_bytes_bucket{route=\"/a\",le=\"+Inf\"} 1",
                "payload_size_bytes_sum{route=\"/a\"} 100",
                "payload_size_bytes_count{route=\"/a\"} 1",
                "payload_size_bytes_bucket{route=\"/b\",le=\"1\"} 1",
                "payload_size_bytes_bucket{route=\"/b\",le=\"5\"} 2",
                "payload_size_bytes_bucket{route=\"/b\",le=\"+Inf\"} 3",
                "payload_size_bytes_sum{route=\"/b\"} 11",
                "payload_size_bytes_count{route=\"/b\"} 3"),
            h.Collect());
    }

    [Fact]
    public void Collect_HistogramNaN_IsDroppedSoTheSumStaysANumber()
    {
        using var h = new ExporterHarness();
        var histogram = h.Meter.CreateHistogram("h", unit: null, description: "H.", tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1] });

        histogram.Record(double.NaN);
        histogram.Record(0.5);

        Assert.Equal(
            Text(
                "# HELP h H.",
                "# TYPE h histogram",
                "h_bucket{le=\"1\"} 1",
                "h_bucket{le=\"+Inf\"} 1",
                "h_sum 0.5",
                "h_count 1"),
            h.Collect());
    }

    [Fact]
    public void Collect_LabelValuesAndHelp_AreEscaped()
    {
        using var h = new ExporterHarness();
        var gauge = h.Meter.CreateGauge<int>("escaped", unit: null, description: "Line one\nback\\slash \"quoted\"");

        gauge.Record(1, new KeyValuePair<string, object?>("path", "C:\\dir \"x\"\nnext"));

        Assert.Equal(
            Text(
                "# HELP escaped Line one\\nback\\\\slash \"quoted\"",
                "# TYPE escaped gauge",
                "escaped{path=\"C:\\\\dir \\\"x\\\"\\nnext\"} 1"),
            h.Collect());
    }

    [Fact]
    public void Collect_LabelsSeriesAndFamilies_AreSortedWhateverTheRecordingOrder()
    {
        using var h = new ExporterHarness();
        var zeta = h.Meter.CreateCounter<long>("zeta", description: "Z.");
        var alpha = h.Meter.CreateCounter<long>("alpha", description: "A.");

        zeta.Add(1, new("z", "1"), new("a", "2"), new("m", "3"));
        zeta.Add(1, new("m", "3"), new("z", "1"), new("a", "2"));
        zeta.Add(1, new("z", "0"), new("a", "1"), new("m", "3"));
        alpha.Add(1);

        Assert.Equal(
            Text(
                "# HELP alpha_total A.",
                "# TYPE alpha_total counter",
                "alpha_total 1",
                "# HELP zeta_total Z.",
                "# TYPE zeta_total counter",
                "zeta_total{a=\"1\",m=\"3\",z=\"0\"} 1",
                "zeta_total{a=\"2\",m=\"3\",z=\"1\"} 2"),
            h.Collect());
    }

    [Fact]
    public void Collect_NaNAndInfinities_AreSpelledAsPrometheusDoes()
    {
        using var h = new ExporterHarness();
        var gauge = h.Meter.CreateGauge<double>("special", unit: null, description: "Special values.");

        gauge.Record(double.NaN, new KeyValuePair<string, object?>("v", "a"));
        gauge.Record(double.PositiveInfinity, new KeyValuePair<string, object?>("v", "b"));
        gauge.Record(double.NegativeInfinity, new KeyValuePair<string, object?>("v", "c"));
        gauge.Record(1e-7, new KeyValuePair<string, object?>("v", "d"));
        gauge.Record(123456789012, new KeyValuePair<string, object?>("v", "e"));

        Assert.Equal(
            Text(
                "# HELP special Special values.",
                "# TYPE special gauge",
                "special{v=\"a\"} NaN",
                "special{v=\"b\"} +Inf",
                "special{v=\"c\"} -Inf",
                "special{v=\"d\"} 1E-07",
                "special{v=\"e\"} 123456789012"),
            h.Collect());
    }

    [Fact]
    public void Collect_NonStringTagValues_AreInvariantTextAndFindTheSameSeries()
    {
        using var h = new ExporterHarness();
        var counter = h.Meter.CreateCounter<long>("typed", description: "T.");

        counter.Add(1, new("code", 500), new("retry", true), new("ratio", 0.5));
        counter.Add(1, new("ratio", 0.5), new("code", 500), new("retry", true));
        counter.Add(1, new("code", "500"), new("retry", "true"), new("ratio", "0.5"));

        Assert.Equal(
            Text(
                "# HELP typed_total T.",
                "# TYPE typed_total counter",
                "typed_total{code=\"500\",ratio=\"0.5\",retry=\"true\"} 3"),
            h.Collect());
    }

    [Fact]
    public void Collect_InstrumentAndTagNamesWithInvalidCharacters_AreSanitized()
    {
        using var h = new ExporterHarness();
        var counter = h.Meter.CreateCounter<long>("1st.request-count/api", description: "C.");

        counter.Add(1, new("http.method", "GET"), new("http_method", "HEAD"), new("__weird key", "x"));

        Assert.Equal(
            Text(
                "# HELP _1st_request_count_api_total C.",
                "# TYPE _1st_request_count_api_total counter",
                "_1st_request_count_api_total{_weird_key=\"x\",http_method=\"GET;HEAD\"} 1"),
            h.Collect());
    }

    [Fact]
    public void Collect_ObservableSeriesNoLongerReported_DisappearsAndAnEmptyFamilyIsLeftOut()
    {
        using var h = new ExporterHarness();
        var reported = new List<(string Policy, int Value)> { ("a", 1), ("b", 2) };
        h.Meter.CreateObservableGauge(
            "policy.state",
            () => reported.Select(r => new Measurement<int>(r.Value, new KeyValuePair<string, object?>("policy", r.Policy))).ToArray(),
            unit: null,
            description: "State.");

        var before = h.Collect();
        reported.RemoveAt(1);
        var after = h.Collect();
        reported.Clear();
        var empty = h.Collect();

        Assert.Equal(Text("# HELP policy_state State.", "# TYPE policy_state gauge", "policy_state{policy=\"a\"} 1", "policy_state{policy=\"b\"} 2"), before);
        Assert.Equal(Text("# HELP policy_state State.", "# TYPE policy_state gauge", "policy_state{policy=\"a\"} 1"), after);
        Assert.Equal(string.Empty, empty);
    }

    [Fact]
    public void Collect_ObservableCallbackThrows_OnlyThatInstrumentIsLeftOut()
    {
        using var h = new ExporterHarness();
        Func<int> broken = () => throw new InvalidOperationException("boom");
        h.Meter.CreateObservableGauge("broken", broken, unit: null, description: "B.");
        h.Meter.CreateObservableGauge("working", () => 3, unit: null, description: "W.");
        h.Meter.CreateCounter<long>("counted", description: "C.").Add(1);

        var text = h.Collect();

        Assert.Equal(
            Text(
                "# HELP counted_total C.",
                "# TYPE counted_total counter",
                "counted_total 1",
                "# HELP working W.",
                "# TYPE working gauge",
                "working 3"),
            text);
    }

    [Fact]
    public void Collect_DisposedMeter_ItsInstrumentsDisappear()
    {
        using var h = new ExporterHarness();
        using var other = new Meter(h.Meter.Name);
        other.CreateCounter<long>("short.lived", description: "S.").Add(1);
        h.Meter.CreateCounter<long>("long.lived", description: "L.").Add(1);

        var before = h.Collect();
        other.Dispose();
        var after = h.Collect();

        Assert.Contains("short_lived_total 1\n", before);
        Assert.Equal(Text("# HELP long_lived_total L.", "# TYPE long_lived_total counter", "long_lived_total 1"), after);
    }

    [Fact]
    public void Collect_MetersOfOtherNamesOrScopes_AreNotExported()
    {
        var name = "test." + Guid.NewGuid().ToString("N");
        var scope = new object();
        using var exporter = new PrometheusExporter(new PrometheusExporterOptions { MeterNames = [name], MeterScope = scope });
        using var inScope = new Meter(new MeterOptions(name) { Scope = scope });
        using var otherScope = new Meter(new MeterOptions(name) { Scope = new object() });
        using var otherName = new Meter(new MeterOptions(name + ".other") { Scope = scope });

        inScope.CreateCounter<long>("mine", description: "M.").Add(1);
        otherScope.CreateCounter<long>("theirs", description: "T.").Add(1);
        otherName.CreateCounter<long>("elsewhere", description: "E.").Add(1);

        Assert.Equal(Text("# HELP mine_total M.", "# TYPE mine_total counter", "mine_total 1"), exporter.Collect());
    }

    [Fact]
    public void Collect_TwoInstrumentsWithTheSamePrometheusName_OnlyTheFirstIsExported()
    {
        using var h = new ExporterHarness();
        h.Meter.CreateCounter<long>("cache.hits", description: "First.").Add(1);
        h.Meter.CreateCounter<long>("cache_hits", description: "Second.").Add(5);

        Assert.Equal(Text("# HELP cache_hits_total First.", "# TYPE cache_hits_total counter", "cache_hits_total 1"), h.Collect());
    }

    [Fact]
    public void Collect_MoreTagSetsThanTheLimit_GoToTheOverflowSeries()
    {
        using var h = new ExporterHarness(maxSeriesPerInstrument: 2);
        var counter = h.Meter.CreateCounter<long>("users", description: "U.");

        foreach (var user in new[] { "a", "b", "c", "d", "a" })
        {
            counter.Add(1, new KeyValuePair<string, object?>("user", user));
        }

        Assert.Equal(
            Text(
                "# HELP users_total U.",
                "# TYPE users_total counter",
                "users_total{otel_metric_overflow=\"true\"} 2",
                "users_total{user=\"a\"} 2",
                "users_total{user=\"b\"} 1"),
            h.Collect());
    }

    [Fact]
    public void Collect_NothingRecordedYet_WritesNoFamily()
    {
        using var h = new ExporterHarness();
        h.Meter.CreateCounter<long>("never", description: "N.");
        h.Meter.CreateHistogram<double>("never.observed", unit: "s", description: "N.");

        Assert.Equal(string.Empty, h.Collect());
    }

    [Fact]
    public async Task Collect_EightThreadsRecordingAtOnce_LosesNoMeasurement()
    {
        const int Threads = 8;
        const int PerThread = 10_000;
        using var h = new ExporterHarness();
        var longs = h.Meter.CreateCounter<long>("hits", description: "H.");
        var shared = h.Meter.CreateCounter<long>("shared", description: "S.");
        var doubles = h.Meter.CreateCounter<double>("weight", description: "W.");
        var histogram = h.Meter.CreateHistogram("spread", unit: null, description: "S.", tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1] });
        using var start = new Barrier(Threads);

        var workers = Enumerable.Range(0, Threads).Select(t => Task.Factory.StartNew(
            () =>
            {
                var shard = (t % 2).ToString(System.Globalization.CultureInfo.InvariantCulture);
                start.SignalAndWait();
                for (var i = 0; i < PerThread; i++)
                {
                    longs.Add(1, new KeyValuePair<string, object?>("shard", shard));
                    shared.Add(1);
                    doubles.Add(0.5);
                    histogram.Record(i % 2 == 0 ? 0.5 : 2);
                }
            },
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default)).ToArray();

        // Scrapes while recording must not disturb it.
        while (!workers.All(w => w.IsCompleted))
        {
            _ = h.Collect();
            await Task.Yield();
        }

        await Task.WhenAll(workers);
        var text = h.Collect();

        Assert.Contains("hits_total{shard=\"0\"} 40000\n", text);
        Assert.Contains("hits_total{shard=\"1\"} 40000\n", text);
        Assert.Contains("shared_total 80000\n", text);
        Assert.Contains("weight_total 40000\n", text);
        Assert.Contains("spread_bucket{le=\"1\"} 40000\n", text);
        Assert.Contains("spread_bucket{le=\"+Inf\"} 80000\n", text);
        Assert.Contains("spread_sum 100000\n", text);
        Assert.Contains("spread_count 80000\n", text);
    }

    [Fact]
    public async Task WriteAsync_WritesTheSameTextAsUtf8()
    {
        using var h = new ExporterHarness();
        h.Meter.CreateCounter<long>("greetings", description: "Grüße.").Add(1, new KeyValuePair<string, object?>("lang", "français"));
        using var stream = new MemoryStream();

        await h.Exporter.WriteAsync(stream, CancellationToken.None);

        Assert.Equal(h.Collect(), Encoding.UTF8.GetString(stream.ToArray()));
        Assert.Contains("greetings_total{lang=\"français\"} 1\n", Encoding.UTF8.GetString(stream.ToArray()));
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", PrometheusExporter.ContentType);
    }

    [Fact]
    public void Collect_AfterDispose_Throws()
    {
        var h = new ExporterHarness();
        h.Dispose();

        Assert.Throws<ObjectDisposedException>(() => h.Collect());
    }

    [Fact]
    public void Constructor_NoMeterNames_ListsTheProblem()
    {
        var e = Assert.Throws<ArgumentException>(() => new PrometheusExporter(new PrometheusExporterOptions { MaxSeriesPerInstrument = 0 }));

        Assert.Contains("MeterNames must name at least one meter.", e.Message);
        Assert.Contains("MaxSeriesPerInstrument must be at least 1; got 0.", e.Message);
    }

    [Fact]
    public void Record_SeenTagSet_AllocatesNothing()
    {
        using var h = new ExporterHarness();
        var counter = h.Meter.CreateCounter<long>("hot.path", description: "H.");
        var histogram = h.Meter.CreateHistogram<double>("hot.histogram", unit: "s", description: "H.");
        var policy = new KeyValuePair<string, object?>("policy", "checkout");
        var trigger = new KeyValuePair<string, object?>("trigger", "errors");
        counter.Add(1, policy, trigger);
        histogram.Record(0.1, policy);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            counter.Add(1, policy, trigger);
            histogram.Record(0.1, policy);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Contains("hot_path_total{policy=\"checkout\",trigger=\"errors\"} 1001\n", h.Collect());
    }
}
