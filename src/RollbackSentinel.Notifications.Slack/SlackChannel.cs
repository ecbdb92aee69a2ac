namespace RollbackSentinel.Notifications.Slack;

/// <summary>
/// Incidents in Slack: one message per incident, posted (<c>chat.postMessage</c>) on its first notice and updated in
/// place (<c>chat.update</c>) on every later one, so the buttons disappear once the question is settled. The reference
/// kept between notices is <c>"&lt;channel&gt;:&lt;ts&gt;"</c>. When the message is gone (deleted in Slack:
/// <c>message_not_found</c>) or the reference cannot be read, a new message is posted and its reference returned.
/// </summary>
internal sealed class SlackChannel : IIncidentChannel
{
    private readonly SlackClient _client;
    private readonly Func<IncidentNotice, string> _chooseChannel;

    /// <param name="client">The Web API client.</param>
    /// <param name="options">Gives <see cref="SlackOptions.DefaultChannel"/>.</param>
    /// <param name="chooseChannel">Picks the channel id for a notice's first post (e.g. per policy); null or an empty answer means the default channel.</param>
    public SlackChannel(SlackClient client, SlackOptions options, Func<IncidentNotice, string?>? chooseChannel = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.DefaultChannel, nameof(options));
        _client = client;
        var fallback = options.DefaultChannel;
        _chooseChannel = chooseChannel is null ? _ => fallback : n => chooseChannel(n) is { Length: > 0 } c ? c : fallback;
    }

    public string Name => "slack";

    public TimeSpan? RepublishEvery => null;

    public async Task<string?> PublishAsync(IncidentNotice notice, string? reference, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(notice);
        var message = SlackMessages.Build(notice);
        if (SlackMessageRef.TryParse(reference, out var posted))
        {
            try
            {
                await _client.UpdateAsync(posted.Channel, posted.Ts, message.Text, message.Blocks, cancellationToken).ConfigureAwait(false);
                return posted.ToString();
            }
            catch (NotificationException e) when (SlackClient.ErrorCode(e) == "message_not_found")
            {
                // Someone deleted the message: post the incident again rather than lose it.
            }
        }

        var channel = _chooseChannel(notice);
        var created = await _client.PostMessageAsync(channel, message.Text, message.Blocks, cancellationToken).ConfigureAwait(false);
        return created.ToString();
    }
}
