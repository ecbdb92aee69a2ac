using Microsoft.Playwright;

namespace RollbackSentinel.Cli.Tests.Web;

/// <summary>
/// Debian's chromium (package <c>chromium</c>, <c>/usr/bin/chromium</c>) driven by Playwright for .NET: never a browser
/// Playwright downloads. Headless, without the sandbox when running as root (as CI does). A test takes a fresh context
/// (its own cookies) per user; <see cref="DisposeAsync"/> closes the browser and the driver.
/// </summary>
internal sealed class Chromium : IAsyncDisposable
{
    private readonly IPlaywright _playwright;

    private Chromium(IPlaywright playwright, IBrowser browser)
    {
        _playwright = playwright;
        Browser = browser;
    }

    public IBrowser Browser { get; }

    /// <summary>Where chromium is: <c>CHROMIUM</c> if set, else the first of the Debian paths that exists.</summary>
    /// <summary>
    /// How a test waits for a navigation it caused: until the document is parsed, not for the load event (the pages
    /// have no subresources to wait for). A sign-in whose overview was on screen still timed out after 30 s waiting for
    /// "load" once, on a machine running every test project at once; 60 s, as the rest of these tests are generous.
    /// </summary>
    public static PageWaitForURLOptions Arrived { get; } = new() { WaitUntil = WaitUntilState.DOMContentLoaded, Timeout = 60_000 };

    public static string ExecutablePath =>
        Environment.GetEnvironmentVariable("CHROMIUM") is { Length: > 0 } set ? set
        : new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists)
          ?? throw new InvalidOperationException("chromium is not installed: apt-get install chromium (scripts/install-deps does)");

    public static async Task<Chromium> LaunchAsync()
    {
        var playwright = await Playwright.CreateAsync();
        try
        {
            var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
            {
                ExecutablePath = ExecutablePath,
                Headless = true,
                Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
                Timeout = 60_000,
            });
            return new Chromium(playwright, browser);
        }
        catch
        {
            playwright.Dispose();
            throw;
        }
    }

    /// <summary>A new context (own cookies and storage) of a phone's or a desktop's size, in light or dark mode.</summary>
    public Task<IBrowserContext> NewContextAsync(int width = 1280, int height = 900, ColorScheme scheme = ColorScheme.Light, bool offline = false) =>
        Browser.NewContextAsync(new BrowserNewContextOptions
        {
            ViewportSize = new ViewportSize { Width = width, Height = height },
            ColorScheme = scheme,
            Offline = offline,
            TimezoneId = "UTC",
            Locale = "en-US",
        });

    public async ValueTask DisposeAsync()
    {
        await Browser.CloseAsync();
        _playwright.Dispose();
    }
}
