using Microsoft.Extensions.DependencyInjection;
using RollbackSentinel.Notifications.Alertmanager;
using RollbackSentinel.Notifications.PagerDuty;
using RollbackSentinel.Notifications.Slack;
using RollbackSentinel.Testing.Net;
using RollbackSentinel.Testing.PagerDuty;
using RollbackSentinel.Testing.Slack;
using RollbackSentinel.Testing.Time;
using static RollbackSentinel.Notifications.Tests.Slack.SlackNotices;

namespace RollbackSentinel.Notifications.Tests;

/// <summary>Each channel's AddXxx(): resolved by <see cref="IIncidentChannel"/>, publishing with the options it was given.</summary>
public sealed class RegistrationTests
{
    private static ServiceCollection Services()
    {
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(new ManualTimeProvider(T0));
        return services;
    }

    [Fact]
    public async Task AddSlackChannel_WithSigningSecretAndChooser_PostsToTheChosenChannelAndRegistersTheVerifierAndApprovers()
    {
        await using var slack = SlackApiEmulator.Start();
        var services = Services();
        services.AddSingleton(new Dictionary<string, string> { ["checkout"] = "C0CHECKOUT" });
        await using var provider = services
            .AddSlackChannel(Options(slack), sp => notice => sp.GetRequiredService<Dictionary<string, string>>().GetValueOrDefault(notice.Incident.Policy))
            .BuildServiceProvider();

        var channel = Assert.Single(provider.GetServices<IIncidentChannel>());
        Assert.IsType<SlackChannel>(channel);
        Assert.Equal("slack", channel.Name);
        Assert.NotNull(provider.GetService<SlackApprovers>());
        var verifier = provider.GetRequiredService<SlackRequestVerifier>();
        Assert.Equal("C0INCIDENTS", provider.GetRequiredService<SlackOptions>().DefaultChannel);

        var reference = await channel.PublishAsync(Notice(NoticeKind.Paged), null, CancellationToken.None);

        var post = Assert.Single(slack.Calls);
        Assert.Equal("chat.postMessage", post.Method);
        Assert.Equal("Bearer " + slack.Token, post.Authorization);
        Assert.Equal("C0CHECKOUT", (string?)post.Json["channel"]);
        Assert.StartsWith("C0CHECKOUT:", reference, StringComparison.Ordinal);
        var ts = T0.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(verifier.Verify(ts, SlackRequestVerifier.Sign("signing-secret", ts, "a=b"), "a=b").Valid);
    }

    [Fact]
    public async Task AddSlackChannel_NoSigningSecretNoChooser_PostsToTheDefaultChannelAndTakesNoInteractions()
    {
        await using var slack = SlackApiEmulator.Start();
        await using var provider = Services().AddSlackChannel(Options(slack) with { SigningSecret = null }).BuildServiceProvider();

        await Assert.Single(provider.GetServices<IIncidentChannel>()).PublishAsync(Notice(NoticeKind.Paged), null, CancellationToken.None);

        Assert.Equal("C0INCIDENTS", (string?)Assert.Single(slack.Calls).Json["channel"]);
        Assert.Null(provider.GetService<SlackRequestVerifier>());
    }

    [Fact]
    public async Task AddPagerDutyChannel_WithOptionsFromServices_TriggersWithTheChosenRoutingKey()
    {
        const string Default = "R0UT1NGKEY0123456789abcdefABCDEF";
        const string Chosen = "CH0SENKEY00123456789abcdefABCDEF";
        await using var pagerDuty = PagerDutyEventsApiEmulator.Start();
        var services = Services();
        services.AddSingleton(new Dictionary<string, string> { ["checkout"] = Chosen });
        await using var provider = services
            .AddPagerDutyChannel(sp => new PagerDutyOptions
            {
                EventsUrl = pagerDuty.EventsUrl,
                RoutingKey = Default,
                RoutingKeyFor = notice => sp.GetRequiredService<Dictionary<string, string>>().GetValueOrDefault(notice.Incident.Policy),
                RetryDelay = TimeSpan.Zero,
            })
            .BuildServiceProvider();

        var channel = Assert.Single(provider.GetServices<IIncidentChannel>());
        Assert.IsType<PagerDutyChannel>(channel);
        Assert.Equal("pagerduty", channel.Name);

        await channel.PublishAsync(Notice(NoticeKind.Paged), null, CancellationToken.None);

        var accepted = Assert.Single(pagerDuty.Accepted);
        Assert.Equal("trigger", accepted.EventAction);
        Assert.Equal(Chosen, accepted.RoutingKey);
    }

    [Fact]
    public async Task AddAlertmanagerChannel_WithOptions_PostsTheAlertToItsUrlAndRepublishesAsSet()
    {
        await using var alertmanager = LoopbackHttpServer.Start(new CannedResponse(200, ""));
        await using var provider = Services()
            .AddAlertmanagerChannel(new AlertmanagerOptions { Url = new Uri(alertmanager.BaseAddress, "am/"), RepublishEvery = TimeSpan.FromSeconds(45), RetryDelay = TimeSpan.Zero })
            .BuildServiceProvider();

        var channel = Assert.Single(provider.GetServices<IIncidentChannel>());
        Assert.IsType<AlertmanagerChannel>(channel);
        Assert.Equal("alertmanager", channel.Name);
        Assert.Equal(TimeSpan.FromSeconds(45), channel.RepublishEvery);

        await channel.PublishAsync(Notice(NoticeKind.Paged), null, CancellationToken.None);

        var post = Assert.Single(alertmanager.Requests);
        Assert.Equal("POST", post.Method);
        Assert.Equal("/am/api/v2/alerts", post.PathAndQuery);
        Assert.Contains("\"policy\":\"checkout\"", post.Body, StringComparison.Ordinal);
    }
}
