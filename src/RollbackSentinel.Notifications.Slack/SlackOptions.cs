namespace RollbackSentinel.Notifications.Slack;

/// <summary>
/// How the sentinel talks to Slack: the Web API's address, the bot token it posts with, the signing secret Slack
/// signs its requests to us with, and the channel incidents go to. <see cref="ToString"/> never shows the secrets.
/// </summary>
public sealed record SlackOptions
{
    /// <summary>Slack's Web API root.</summary>
    public static readonly Uri DefaultApiBaseUrl = new("https://slack.com/api/");

    /// <summary>The Web API root; methods are resolved below it (<c>chat.postMessage</c>). A trailing slash is added when missing.</summary>
    public Uri ApiBaseUrl { get; init; } = DefaultApiBaseUrl;

    /// <summary>The bot token (<c>xoxb-…</c>), sent as <c>Authorization: Bearer</c>. Never logged nor put in a message.</summary>
    public required string BotToken { get; init; }

    /// <summary>The app's signing secret, for <see cref="SlackRequestVerifier"/>. Null when the daemon takes no interactions.</summary>
    public string? SigningSecret { get; init; }

    /// <summary>The channel id (<c>C0123ABCD</c>) incidents are posted to unless a chooser picks another.</summary>
    public required string DefaultChannel { get; init; }

    /// <summary>How long one Web API call may take before it counts as a timeout (and is retried).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The API root with a trailing slash, so relative method names resolve below it.</summary>
    internal Uri NormalizedBaseUrl =>
        ApiBaseUrl.AbsoluteUri.EndsWith('/') ? ApiBaseUrl : new Uri(ApiBaseUrl.AbsoluteUri + "/");

    public override string ToString() =>
        $"SlackOptions {{ ApiBaseUrl = {ApiBaseUrl}, BotToken = {(string.IsNullOrEmpty(BotToken) ? "(none)" : "(set)")}, SigningSecret = {(string.IsNullOrEmpty(SigningSecret) ? "(none)" : "(set)")}, DefaultChannel = {DefaultChannel} }}";
}
