using System.Globalization;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using RollbackSentinel.Core.Incidents;

namespace RollbackSentinel.Cli.Tests.Web;

/// <summary>
/// The status page in Debian's chromium, against a daemon reading a real Prometheus (<see cref="StatusPageSite"/>): sign
/// in, the overview, a policy's plots against the data written, answering an incident, and what is refused.
/// </summary>
[Collection(StatusPageCollection.Name)]
public sealed class StatusPageBrowserTests(StatusPageSite site)
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task SignIn_AdminToken_OverviewListsEveryPolicyWithTheOpenIncidentFirst()
    {
        var id = await site.OtherIncidentAsync();
        var page = await site.SignInAsync(Api.InProcessSentinel.Token, "alice");

        Assert.Equal("Status - RollbackSentinel", await page.TitleAsync());
        var open = page.Locator("table.incidents tbody tr");
        Assert.Equal(id.ToString(CultureInfo.InvariantCulture), await open.First.GetAttributeAsync("data-incident"));

        // Every policy, the one with an open incident first; each with its gate and its series' state.
        var rows = page.Locator("table.overview tbody tr");
        Assert.Equal(["other", "shop"], await rows.EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.policy)"));
        var other = page.Locator("table.overview tr[data-policy=other]");
        Assert.Equal("firing", await other.GetAttributeAsync("data-state"));
        Assert.Equal("closed", await other.Locator("td[data-gate]").GetAttributeAsync("data-gate"));
        Assert.Contains("1 open incident(s)", await other.InnerTextAsync(), StringComparison.Ordinal);

        // shop has been healthy for 50 minutes, and its change (70 minutes ago) is older than the default 1h watch window.
        await Daemon.Eventually.WaitAsync(
            async () =>
            {
                await page.ReloadAsync();
                return await page.Locator("table.overview tr[data-policy=shop]").GetAttributeAsync("data-state") == "ok";
            },
            TimeSpan.FromSeconds(45),
            "shop's first evaluation on the overview");
        var shop = page.Locator("table.overview tr[data-policy=shop]");
        Assert.Contains("disarmed", await shop.InnerTextAsync(), StringComparison.Ordinal);
        Assert.Matches(@"error ratio 0 \(0/10(\.\d+)?\) <= max 0\.05", await shop.InnerTextAsync());
        await Screenshots.TakeAsync(page, "status-overview.png");
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task PolicyPage_Plot_ThresholdLineAndBreachShadingMatchTheDataWritten()
    {
        var page = await site.SignInAsync(Api.InProcessSentinel.Token, "alice");
        await page.GetByRole(AriaRole.Link, new() { Name = "shop", Exact = true }).ClickAsync();
        await page.WaitForURLAsync(site.Url("policies/shop"), Chromium.Arrived);
        Assert.Equal("shop - RollbackSentinel", await page.TitleAsync());
        Assert.Equal("3h", await page.Locator("select#window").InputValueAsync());

        var figure = page.Locator("figure[data-trigger=errors]");
        Assert.Equal(1, await figure.CountAsync());
        var threshold = figure.Locator("path.threshold");
        Assert.Equal(StatusPageSite.Max, double.Parse((await threshold.First.GetAttributeAsync("data-value"))!, CultureInfo.InvariantCulture));

        // 20% errors from BreachFrom to BreachTo, a 1m rate: the first evaluation (every 15 s) that sees an error sample
        // breaches (the ratio of a 1m window with one 20% scrape interval is above 5%) and the breach lasts until the 1m
        // window holds no error sample: one span, starting within a step after BreachFrom, ending within 1m + a step after BreachTo.
        var breach = figure.Locator("rect.breach");
        Assert.Equal(1, await breach.CountAsync());
        var from = DateTimeOffset.Parse((await breach.GetAttributeAsync("data-from"))!, CultureInfo.InvariantCulture);
        var to = DateTimeOffset.Parse((await breach.GetAttributeAsync("data-to"))!, CultureInfo.InvariantCulture);
        Assert.InRange(from, site.BreachFrom, site.BreachFrom + Step + Step);
        Assert.InRange(to, site.BreachTo, site.BreachTo + TimeSpan.FromMinutes(1) + Step + Step);
        Assert.Contains("breach", await breach.Locator("title").TextContentAsync() ?? string.Empty, StringComparison.Ordinal);

        // The change, as a marker at its time, with its text on focus: reachable by keyboard.
        var change = figure.Locator("g.marker-change, a:has(g.marker-change)").First;
        Assert.Equal(site.ChangeAt, DateTimeOffset.Parse((await figure.Locator("g.marker-change").First.GetAttributeAsync("data-at"))!, CultureInfo.InvariantCulture));
        Assert.Contains("v1 -> v2 by ci", await figure.Locator("g.marker-change title").First.TextContentAsync() ?? string.Empty, StringComparison.Ordinal);
        await change.FocusAsync();
        Assert.True(await change.EvaluateAsync<bool>("e => e === document.activeElement"));
        Assert.True(await figure.Locator("g.marker-change .marker-label").First.IsVisibleAsync());

        // The value line is drawn (one series, segments between its points), and the page says in text what the plot
        // shows (for screen readers): the one breach.
        var line = await figure.Locator("path.series").GetAttributeAsync("d") ?? string.Empty;
        Assert.StartsWith("M", line, StringComparison.Ordinal);
        Assert.Contains("L", line, StringComparison.Ordinal);
        Assert.Contains("1 breach", await figure.Locator("svg desc").TextContentAsync() ?? string.Empty, StringComparison.Ordinal);
        await Screenshots.TakeAsync(page, "status-policy.png");

        // Another window by the form (a GET: works without script). 6h, not 1h: the breach ended 50 minutes before the
        // fixture started, so a 1h window loses it once the collection has run for 10 minutes (it did, on a busy machine).
        await page.Locator("select#window").SelectOptionAsync("6h");
        await page.GetByRole(AriaRole.Button, new() { Name = "Show" }).ClickAsync();
        await page.WaitForURLAsync(site.Url("policies/shop?window=6h"), Chromium.Arrived);
        Assert.Equal(1, await page.Locator("figure[data-trigger=errors] rect.breach").CountAsync());
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task IncidentPage_ApproveButton_RecordsWhoAndThroughWhatAndRollsBack()
    {
        var id = await site.OtherIncidentAsync();
        var page = await site.SignInAsync(Api.InProcessSentinel.Token, "alice");
        await page.GotoAsync(site.Url($"incidents/{id}"));
        Assert.Equal("awaiting", await page.Locator("dd[data-state]").GetAttributeAsync("data-state"));
        Assert.Contains("opened", await page.Locator("ol.timeline").InnerTextAsync(), StringComparison.Ordinal);
        await Screenshots.TakeAsync(page, "status-incident.png");

        // Enter in the reason field answers nothing (the form's default button is a disabled one).
        await page.GetByLabel("Reason (optional, recorded)").FillAsync("v2 looks fine, deny");
        await page.GetByLabel("Reason (optional, recorded)").PressAsync("Enter");
        Assert.Equal(site.Url($"incidents/{id}"), page.Url);
        Assert.Equal(0, await AcknowledgmentsAsync(id));

        await page.GetByLabel("Reason (optional, recorded)").FillAsync("errors at 50%, v2 is bad");
        await page.GetByRole(AriaRole.Button, new() { Name = "Approve rollback" }).ClickAsync();
        await page.WaitForURLAsync(site.Url($"incidents/{id}?answered=approve&outcome=applied"), Chromium.Arrived);
        Assert.Equal("Your answer (approve) was recorded.", await page.Locator("p[role=status]").InnerTextAsync());

        var store = site.Sentinel.App.Services.GetRequiredService<IIncidentStore>();
        var stored = await store.GetIncidentAsync(id, CancellationToken.None);
        var answer = Assert.Single(stored!.Acknowledgments);
        Assert.Equal(("alice", "web", "approve", "errors at 50%, v2 is bad"), (answer.By, answer.Channel, answer.Answer, answer.Reason));
        await Daemon.Eventually.WaitAsync(() => Task.FromResult(site.Sentinel.Webhook.Requests.Any(r => r.PathAndQuery == "/rollback-other")), TimeSpan.FromSeconds(30), "the approved rollback");

        // The page shows who answered, through what, and no buttons any more.
        await page.GotoAsync(site.Url($"incidents/{id}"));
        Assert.Contains("approve by alice through web", await page.Locator("ol.timeline").InnerTextAsync(), StringComparison.Ordinal);
        Assert.Equal(0, await page.GetByRole(AriaRole.Button, new() { Name = "Approve rollback" }).CountAsync());
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task ReadToken_SeesEverything_ButHasNoButtonsAndItsPostIsRefused()
    {
        var id = await site.OtherIncidentAsync();
        var before = await AcknowledgmentsAsync(id);
        var page = await site.SignInAsync(StatusPageSite.ReadToken, "reader");
        Assert.Contains("reader (read token)", await page.Locator("header nav").InnerTextAsync(), StringComparison.Ordinal);
        await page.GotoAsync(site.Url($"incidents/{id}"));
        Assert.Equal(0, await page.GetByRole(AriaRole.Button, new() { Name = "Approve rollback" }).CountAsync());

        // Forging the form with the read session's own CSRF token: the session may only read.
        var csrf = await page.Locator("header form input[name=csrf]").InputValueAsync();
        var response = await page.APIRequest.PostAsync(site.Url($"incidents/{id}/approve"), new() { Form = FormOf(page.APIRequest, ("csrf", csrf), ("reason", "sneaky")), MaxRedirects = 0 });
        Assert.Equal((int)HttpStatusCode.Forbidden, response.Status);
        Assert.Contains("read token", await response.TextAsync(), StringComparison.Ordinal);
        Assert.Equal(before, await AcknowledgmentsAsync(id));
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task AnswerPost_WithoutTheCookieOrWithABadCsrfToken_IsRefusedAndChangesNothing()
    {
        var id = await site.OtherIncidentAsync();
        var before = await AcknowledgmentsAsync(id);

        // No cookie at all: a fresh context.
        var anonymous = await site.Chromium.NewContextAsync();
        var none = await anonymous.APIRequest.PostAsync(site.Url($"incidents/{id}/approve"), new() { Form = FormOf(anonymous.APIRequest, ("reason", "x")), MaxRedirects = 0 });
        Assert.Equal((int)HttpStatusCode.Unauthorized, none.Status);
        var page = await anonymous.NewPageAsync();
        await page.GotoAsync(site.Url($"incidents/{id}"));
        Assert.StartsWith(site.Url("login"), page.Url, StringComparison.Ordinal);
        Assert.Equal(0, await page.Locator("ol.timeline").CountAsync());
        await anonymous.CloseAsync();

        // The admin's session, but the CSRF token missing, wrong, or another session's.
        var admin = await site.SignInAsync(Api.InProcessSentinel.Token, "alice");
        var other = await site.SignInAsync(Api.InProcessSentinel.Token, "mallory");
        var othersCsrf = await other.Locator("header form input[name=csrf]").InputValueAsync();
        foreach (var csrf in new[] { null, "not-the-token", othersCsrf })
        {
            var form = csrf is null ? FormOf(admin.APIRequest, ("reason", "x")) : FormOf(admin.APIRequest, ("csrf", csrf), ("reason", "x"));
            var refused = await admin.APIRequest.PostAsync(site.Url($"incidents/{id}/approve"), new() { Form = form, MaxRedirects = 0 });
            Assert.Equal((int)HttpStatusCode.Forbidden, refused.Status);
            Assert.Contains("CSRF", await refused.TextAsync(), StringComparison.Ordinal);
        }

        // Right token but posted from another site (its Origin): refused too.
        var ownCsrf = await admin.Locator("header form input[name=csrf]").InputValueAsync();
        var crossSite = await admin.APIRequest.PostAsync(site.Url($"incidents/{id}/approve"), new()
        {
            Form = FormOf(admin.APIRequest, ("csrf", ownCsrf)),
            Headers = new Dictionary<string, string> { ["Origin"] = "https://evil.example" },
            MaxRedirects = 0,
        });
        Assert.Equal((int)HttpStatusCode.Forbidden, crossSite.Status);
        Assert.Equal(before, await AcknowledgmentsAsync(id));

        // The API never takes the cookie: it still asks for the bearer token.
        var api = await admin.APIRequest.GetAsync(site.Url("api/v1/incidents"));
        Assert.Equal((int)HttpStatusCode.Unauthorized, api.Status);
        await admin.Context.CloseAsync();
        await other.Context.CloseAsync();
    }

    [Fact]
    public async Task SignIn_SessionCookie_IsHttpOnlyAndSameSiteStrict_AndABadTokenIsRefused()
    {
        var context = await site.Chromium.NewContextAsync();
        var page = await context.NewPageAsync();
        await page.GotoAsync(site.Url("login"));
        await page.GetByLabel("API token").FillAsync("not-a-token");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        Assert.Equal("That is not a token this sentinel knows.", await page.Locator("p[role=alert]").InnerTextAsync());
        Assert.DoesNotContain(await context.CookiesAsync(), c => c.Name == "rs_session");
        await context.CloseAsync();

        var signedIn = await site.SignInAsync(Api.InProcessSentinel.Token, "alice");
        var cookie = Assert.Single(await signedIn.Context.CookiesAsync(), c => c.Name == "rs_session");
        Assert.True(cookie.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, cookie.SameSite);
        Assert.False(cookie.Secure); // plain HTTP here; over HTTPS the cookie is Secure

        // Signing out ends the session on the server: the old cookie opens nothing.
        await signedIn.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await signedIn.WaitForURLAsync(site.Url("login"), Chromium.Arrived);
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false });
        using var request = new HttpRequestMessage(HttpMethod.Get, site.Url());
        request.Headers.Add("Cookie", $"rs_session={cookie.Value}");
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.SeeOther, response.StatusCode);
        await signedIn.Context.CloseAsync();
    }

    [Fact]
    public async Task PolicyPage_OnAPhoneInDarkModeWithoutJavaScript_IsReadable()
    {
        var signed = await site.SignInAsync(Api.InProcessSentinel.Token, "alice");
        var cookies = await signed.Context.CookiesAsync();
        await signed.Context.CloseAsync();

        var phone = await site.Chromium.Browser.NewContextAsync(new BrowserNewContextOptions
        {
            ViewportSize = new ViewportSize { Width = 390, Height = 844 },
            ColorScheme = ColorScheme.Dark,
            JavaScriptEnabled = false,
            IsMobile = true,
        });
        await phone.AddCookiesAsync(cookies.Select(c => new Microsoft.Playwright.Cookie { Name = c.Name, Value = c.Value, Domain = c.Domain, Path = c.Path, HttpOnly = c.HttpOnly, SameSite = c.SameSite }));
        var page = await phone.NewPageAsync();
        await page.GotoAsync(site.Url("policies/shop"));
        Assert.Equal(1, await page.Locator("figure[data-trigger=errors] svg").CountAsync());

        // The page fits the phone's width (tables scroll in their own box), and the background is dark.
        Assert.True(await page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth"));
        var background = await page.EvaluateAsync<string>("() => getComputedStyle(document.body).backgroundColor");
        Assert.Equal("rgb(13, 17, 23)", background);
        await Screenshots.TakeAsync(page, "status-policy-phone-dark.png");
        await phone.CloseAsync();
    }

    private async Task<int> AcknowledgmentsAsync(long id)
    {
        var store = site.Sentinel.App.Services.GetRequiredService<IIncidentStore>();
        return (await store.GetIncidentAsync(id, CancellationToken.None))!.Acknowledgments.Count;
    }

    private static IFormData FormOf(IAPIRequestContext request, params (string Name, string Value)[] fields)
    {
        var form = request.CreateFormData();
        foreach (var (name, value) in fields)
        {
            form.Set(name, value);
        }

        return form;
    }
}

[CollectionDefinition(Name)]
public sealed class StatusPageCollection : ICollectionFixture<StatusPageSite>
{
    public const string Name = "status page";
}
