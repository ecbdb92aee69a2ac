using System.Net;
using RollbackSentinel.Cli.Tests.Api;

namespace RollbackSentinel.Cli.Tests.Web;

/// <summary>
/// The status page over plain HTTP (no browser), on a daemon whose Prometheus is unreachable: what needs a session, what
/// stays anonymous, where sign-in may send a browser, and how a page says it cannot read the backend.
/// </summary>
[Collection(StatusPageCollection.Name)]
public sealed class StatusPageHttpTests
{
    private static async Task<(HttpClient Http, CookieContainer Cookies)> SignInAsync(InProcessSentinel sentinel, string token = InProcessSentinel.Token, string back = "/")
    {
        var cookies = new CookieContainer();
        var http = new HttpClient(new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false }) { BaseAddress = sentinel.BaseAddress };
        (await http.GetAsync("login")).EnsureSuccessStatusCode();
        var csrf = cookies.GetCookies(sentinel.BaseAddress)["rs_login"]!.Value;
        using var response = await http.PostAsync("login", new FormUrlEncodedContent(new Dictionary<string, string> { ["csrf"] = csrf, ["token"] = token, ["name"] = "alice", ["return"] = back }));
        Assert.Equal(HttpStatusCode.SeeOther, response.StatusCode);
        return (http, cookies);
    }

    [Fact]
    public async Task Pages_WithoutASession_SendTheBrowserToSignInAndBack()
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        using var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = sentinel.BaseAddress };
        foreach (var (path, back) in new[] { ("", "%2F"), ("policies/shop?window=1h", "%2Fpolicies%2Fshop%3Fwindow%3D1h"), ("incidents/1", "%2Fincidents%2F1") })
        {
            using var response = await http.GetAsync(path);
            Assert.Equal(HttpStatusCode.SeeOther, response.StatusCode);
            Assert.Equal($"/login?return={back}", response.Headers.Location!.OriginalString);
        }

        // A bearer token is not a session: the pages are for browsers, the API for programs.
        using var bearer = new HttpRequestMessage(HttpMethod.Get, "");
        bearer.Headers.Authorization = new("Bearer", InProcessSentinel.Token);
        Assert.Equal(HttpStatusCode.SeeOther, (await http.SendAsync(bearer)).StatusCode);
    }

    [Fact]
    public async Task Probes_Metrics_StayAnonymous_AndUnknownPathsAndTheApiStillNeedTheBearerToken_EvenWithASession()
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        var (http, _) = await SignInAsync(sentinel);
        using (http)
        {
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("healthz")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("metrics")).StatusCode);
            foreach (var path in new[] { "api/v1/policies", "api/v1/incidents", "no-such-page" })
            {
                using var response = await http.GetAsync(path);
                Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
                Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
            }

            using var post = await http.PostAsync("api/v1/policies/shop/rollback", new StringContent("{\"reason\":\"x\"}", System.Text.Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.Unauthorized, post.StatusCode);
            Assert.Empty(sentinel.Webhook.Requests);
        }
    }

    [Theory]
    [InlineData("//evil.example/")]
    [InlineData("https://evil.example/")]
    [InlineData("/\\evil.example")]
    [InlineData("/policies/caf\u00e9")]
    [InlineData("javascript:alert(1)")]
    [InlineData("")]
    public async Task SignIn_ReturnNotAPathOfThisSite_GoesToTheOverview(string back)
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        var cookies = new CookieContainer();
        using var http = new HttpClient(new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false }) { BaseAddress = sentinel.BaseAddress };
        await http.GetAsync("login");
        var csrf = cookies.GetCookies(sentinel.BaseAddress)["rs_login"]!.Value;
        using var response = await http.PostAsync("login", new FormUrlEncodedContent(new Dictionary<string, string> { ["csrf"] = csrf, ["token"] = InProcessSentinel.Token, ["return"] = back }));
        Assert.Equal(HttpStatusCode.SeeOther, response.StatusCode);
        Assert.Equal("/", response.Headers.Location!.OriginalString);
    }

    [Fact]
    public async Task SignIn_FormWithoutItsCsrfCookie_IsRefusedAndSetsNoSession()
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        var cookies = new CookieContainer();
        using var http = new HttpClient(new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false }) { BaseAddress = sentinel.BaseAddress };

        // Another site's form posting the right token into this browser: it cannot know the sign-in form's CSRF value.
        using var response = await http.PostAsync("login", new FormUrlEncodedContent(new Dictionary<string, string> { ["csrf"] = "guess", ["token"] = InProcessSentinel.Token }));
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Null(cookies.GetCookies(sentinel.BaseAddress)["rs_session"]);
    }

    [Fact]
    public async Task Pages_CarryAStrictContentSecurityPolicy_AndAreNotCached()
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        var (http, _) = await SignInAsync(sentinel);
        using (http)
        {
            using var response = await http.GetAsync("");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'", response.Headers.GetValues("Content-Security-Policy").Single());
            Assert.Equal("no-store", response.Headers.CacheControl!.ToString());
            Assert.Equal("DENY", response.Headers.GetValues("X-Frame-Options").Single());
            var html = await response.Content.ReadAsStringAsync();
            Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("data-policy=\"shop\"", html, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task PolicyPage_BackendUnreachable_SaysItCouldNotReadIt_AndABadWindowOrPolicyIsNamed()
    {
        await using var sentinel = await InProcessSentinel.StartAsync();
        var (http, _) = await SignInAsync(sentinel);
        using (http)
        {
            using var page = await http.GetAsync("policies/shop");
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            var html = await page.Content.ReadAsStringAsync();
            Assert.Contains("The backend could not be read: ", html, StringComparison.Ordinal);
            Assert.Contains("data-trigger=\"errors\"", html, StringComparison.Ordinal);
            Assert.Contains("no data in this window", html, StringComparison.Ordinal);

            foreach (var bad in new[] { "10s", "3601s", "8d" })
            {
                using var window = await http.GetAsync($"policies/shop?window={bad}");
                Assert.Equal(HttpStatusCode.BadRequest, window.StatusCode);
                Assert.Contains($"&#39;{bad}&#39; is not a window: give whole minutes from 1m to 7d", await window.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }


            using var missing = await http.GetAsync("policies/%3Cb%3Enope");
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
            Assert.Contains("There is no policy &#39;&lt;b&gt;nope&#39;.", await missing.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }
}
