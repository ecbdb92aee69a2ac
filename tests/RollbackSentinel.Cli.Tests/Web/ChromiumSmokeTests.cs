namespace RollbackSentinel.Cli.Tests.Web;

public sealed class ChromiumSmokeTests
{
    [Fact]
    public async Task Launch_DebianChromium_RendersAPage()
    {
        await using var chromium = await Chromium.LaunchAsync();
        var context = await chromium.NewContextAsync();
        var page = await context.NewPageAsync();
        await page.SetContentAsync("<html><body><h1>hello</h1></body></html>");
        Assert.Equal("hello", await page.InnerTextAsync("h1"));
        Assert.Contains("Chrome", await page.EvaluateAsync<string>("navigator.userAgent"));
    }
}
