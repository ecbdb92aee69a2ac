using Microsoft.Extensions.DependencyInjection;
using RollbackSentinel.Core.Secrets;

namespace RollbackSentinel.Actions.Webhook;

/// <summary>Registers the webhook adapter.</summary>
public static class WebhookServiceCollectionExtensions
{
    /// <summary>
    /// Registers the webhook <see cref="IRollbackAction"/> (kind <c>webhook</c>) with its own HttpClient (no redirects; each
    /// attempt has the target's timeout), retried as <paramref name="retry"/> says (<see cref="WebhookRetry.Default"/> when
    /// null). Signing secrets are read through the registered <see cref="ISecretFileReader"/>, if any. Needs a <see cref="TimeProvider"/>.
    /// </summary>
    public static IServiceCollection AddWebhookRollback(this IServiceCollection services, WebhookRetry? retry = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddHttpClient(WebhookRollbackAction.HttpClientName, h => h.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(WebhookRollbackAction.CreateHandler);
        services.AddSingleton<IRollbackAction>(sp => new WebhookRollbackAction(
            sp.GetRequiredService<IHttpClientFactory>().CreateClient(WebhookRollbackAction.HttpClientName),
            sp.GetRequiredService<TimeProvider>(),
            retry,
            sp.GetService<ISecretFileReader>()));
        return services;
    }
}
