using RollbackSentinel.Backends.Datadog;

namespace RollbackSentinel.Backends.Tests.Datadog;

public sealed class DatadogOptionsTests
{
    [Theory]
    [InlineData("datadoghq.com", "https://api.datadoghq.com/")]
    [InlineData("datadoghq.eu", "https://api.datadoghq.eu/")]
    [InlineData("us3.datadoghq.com", "https://api.us3.datadoghq.com/")]
    [InlineData("us5.datadoghq.com", "https://api.us5.datadoghq.com/")]
    [InlineData("ap1.datadoghq.com", "https://api.ap1.datadoghq.com/")]
    [InlineData("ddog-gov.com", "https://api.ddog-gov.com/")]
    [InlineData("app.datadoghq.eu", "https://api.datadoghq.eu/")]
    public void Site_SetsTheApiAddress(string site, string expected)
    {
        var options = new DatadogOptions { Site = site, ApiKey = "a", ApplicationKey = "b" };

        Assert.Equal(new Uri(expected), options.BaseAddress);
        Assert.Empty(options.Validate());
    }

    [Fact]
    public void Default_IsUs1()
    {
        Assert.Equal(new Uri("https://api.datadoghq.com/"), new DatadogOptions().BaseAddress);
    }

    [Fact]
    public void BaseAddressSetOnPurpose_StaysWhicheverIsSetFirst()
    {
        var emulator = new Uri("http://127.0.0.1:5000/");

        Assert.Equal(emulator, new DatadogOptions { BaseAddress = emulator, Site = "datadoghq.eu" }.BaseAddress);
        Assert.Equal(emulator, new DatadogOptions { Site = "datadoghq.eu", BaseAddress = emulator }.BaseAddress);
    }

    [Fact]
    public void With_AnotherSite_FollowsIt()
    {
        var us = new DatadogOptions { ApiKey = "a", ApplicationKey = "b" };

        Assert.Equal(new Uri("https://api.us3.datadoghq.com/"), (us with { Site = "us3.datadoghq.com" }).BaseAddress);
    }

    [Fact]
    public void Validate_ReportsEveryProblem()
    {
        var options = new DatadogOptions
        {
            Site = "datadoghq.co",
            BearerToken = "t",
            Headers = new Dictionary<string, string> { ["DD-API-KEY"] = "x" },
        };

        var errors = options.Validate();

        Assert.Contains(errors, e => e.StartsWith("ApiKey is required", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("ApplicationKey is required", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Site 'datadoghq.co' is not a Datadog site", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("a bearer token or username is not used", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("Set the DD-API-KEY header with the ApiKey", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_BaseAddressOfAnotherSite_IsAConflict()
    {
        var options = new DatadogOptions { BaseAddress = new Uri("https://api.datadoghq.eu/"), Site = "us3.datadoghq.com", ApiKey = "a", ApplicationKey = "b" };

        Assert.Contains(options.Validate(), e => e.Contains("is another Datadog site's API", StringComparison.Ordinal));
    }

    [Fact]
    public void SecretsAndToString_KeysAreSecrets_NeverPrinted()
    {
        var options = new DatadogOptions { ApiKey = "api-secret-1", ApplicationKey = "app-secret-2" };

        Assert.Contains("api-secret-1", options.Secrets());
        Assert.Contains("app-secret-2", options.Secrets());
        Assert.DoesNotContain("secret", options.ToString(), StringComparison.Ordinal);
        Assert.Contains("ApiKey = ***", options.ToString(), StringComparison.Ordinal);
    }
}
