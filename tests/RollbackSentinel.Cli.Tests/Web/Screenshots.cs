using Microsoft.Playwright;

namespace RollbackSentinel.Cli.Tests.Web;

/// <summary>
/// The pictures in docs/ui.md and the README are taken by the browser tests, never drawn by hand: with
/// <c>UPDATE_SCREENSHOTS=1</c> a test writes its screenshot into docs/images (a normal run writes nothing into the repository).
/// </summary>
internal static class Screenshots
{
    public static bool Enabled => Environment.GetEnvironmentVariable("UPDATE_SCREENSHOTS") == "1";

    public static async Task TakeAsync(IPage page, string name)
    {
        if (!Enabled)
        {
            return;
        }

        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "RollbackSentinel.sln")))
        {
            dir = dir.Parent;
        }

        var images = Path.Combine(dir?.FullName ?? throw new InvalidOperationException("no repository above the tests"), "docs", "images");
        Directory.CreateDirectory(images);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(images, name), FullPage = true });
    }
}
