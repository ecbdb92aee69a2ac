using RollbackSentinel.Api;
using RollbackSentinel.Rules;

namespace RollbackSentinel.Hosting;

/// <summary>The secret-file rule of these settings: the allowed directories, and the daemon's own files no rule may name.</summary>
internal static class SecretFiles
{
    public static SecretFileAccess SecretFileAccess(this SentinelOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var dataDir = Path.GetDirectoryName(Path.GetFullPath(options.Storage.Path))!;
        var store = options.Storage.Path;
        var reserved = new List<(string Path, string What)>
        {
            (options.Http.ApiTokenFile ?? Path.Combine(dataDir, ApiToken.FileName), "the API token"),
            (store, "the store"),
            (store + "-wal", "the store"),
            (store + "-shm", "the store"),
            (store + "-journal", "the store"),
            (Path.Combine(dataDir, "sentinel.lock"), "the store's lock"),
        };
        foreach (var (file, what) in new[]
        {
            (options.Http.ReadTokenFile, "the API's read token"),
            (options.Http.DeployTokenFile, "the API's deploy token"),
            (options.Prometheus.BearerTokenFile, "the Prometheus bearer token"),
            (options.Prometheus.PasswordFile, "the Prometheus password"),
            (options.Notifications.Slack.BotTokenFile, "the Slack bot token"),
            (options.Notifications.Slack.SigningSecretFile, "the Slack signing secret"),
            (options.Notifications.PagerDuty.RoutingKeyFile, "the daemon's PagerDuty routing key (a policy without its own key uses it anyway)"),
        })
        {
            if (file is not null)
            {
                reserved.Add((file, what));
            }
        }

        return new SecretFileAccess(options.Secrets.EffectiveAllowedDirectories, reserved);
    }
}
