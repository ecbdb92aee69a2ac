using RollbackSentinel.Backends.InfluxDb;

namespace RollbackSentinel.Backends.Tests.InfluxDb;

public sealed class InfluxDbOptionsTests
{
    private static readonly Uri Server = new("http://influx.example:8086/");

    [Fact]
    public void Validate_NoDatabaseAndBlankRetentionPolicy_ReportsBoth()
    {
        var errors = new InfluxDbOptions { BaseAddress = Server, RetentionPolicy = " " }.Validate();

        Assert.Contains(errors, e => e.StartsWith("Database is required", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("RetentionPolicy must not be blank", StringComparison.Ordinal));
    }

    [Fact]
    public void ToString_MasksThePasswordAndShowsTheDatabase()
    {
        var text = new InfluxDbOptions { BaseAddress = Server, Database = "app", Username = "u", Password = "hunter2" }.ToString();

        Assert.DoesNotContain("hunter2", text, StringComparison.Ordinal);
        Assert.Contains("Database = app", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_InvalidOptions_ThrowsListingThem()
    {
        using var http = new HttpClient();

        var ex = Assert.Throws<ArgumentException>(() => InfluxDbBackend.Create(http, new InfluxDbOptions { BaseAddress = Server }));

        Assert.Contains("Database is required", ex.Message, StringComparison.Ordinal);
    }
}
