namespace RollbackSentinel.Prometheus.Tests;

public sealed class PrometheusOptionsTests
{
    [Fact]
    public void Defaults_NoSettings_PointAtLocalPrometheusWithThirtySecondTimeout()
    {
        var options = new PrometheusOptions();

        Assert.Equal(new Uri("http://127.0.0.1:9090/"), options.BaseAddress);
        Assert.Equal(TimeSpan.FromSeconds(30), options.Timeout);
        Assert.Empty(options.Validate());
    }

    [Fact]
    public void Validate_SeveralProblems_ReportsEveryOne()
    {
        var options = new PrometheusOptions
        {
            BaseAddress = new Uri("ftp://example.org/"),
            Timeout = TimeSpan.Zero,
            BearerToken = "t",
            Username = "u",
        };

        var errors = options.Validate();

        Assert.Equal(3, errors.Count);
        Assert.Contains(errors, e => e.Contains("http:// or https://", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Timeout", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("not both", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_CredentialsInBaseAddress_IsRejected()
    {
        var errors = new PrometheusOptions { BaseAddress = new Uri("http://user:pw@prom:9090/") }.Validate();

        Assert.Equal("BaseAddress must not contain credentials; set Username/Password or BearerToken instead.", Assert.Single(errors));
    }

    [Fact]
    public void Validate_PasswordWithoutUsername_IsRejected() =>
        Assert.Equal("Password is set but Username is not.", Assert.Single(new PrometheusOptions { Password = "pw" }.Validate()));

    [Fact]
    public void ToString_WithSecrets_MasksTokenAndPassword()
    {
        var text = new PrometheusOptions { BearerToken = "tok-secret", Username = "sre", Password = "pw-secret" }.ToString();

        Assert.DoesNotContain("tok-secret", text, StringComparison.Ordinal);
        Assert.DoesNotContain("pw-secret", text, StringComparison.Ordinal);
        Assert.Contains("Username = sre", text, StringComparison.Ordinal);
        Assert.Contains("BearerToken = ***", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Constructor_InvalidOptions_ThrowsListingTheProblems()
    {
        using var http = new HttpClient();

        var ex = Assert.Throws<ArgumentException>(() => new PrometheusClient(http, new PrometheusOptions { Timeout = TimeSpan.FromHours(2) }));

        Assert.Contains("Timeout must be greater than zero and at most 01:00:00", ex.Message, StringComparison.Ordinal);
    }
}
