using System.Text.Json;
using System.Text.Json.Serialization;
using RollbackSentinel.Daemon;

namespace RollbackSentinel.Api;

/// <summary>
/// The JSON metadata of every body the HTTP API reads or writes, made at compile time: the Native AOT executable has
/// no reflection-based serializer (docs/aot.md). It is first in the API's resolver chain (<see cref="AddApiJson"/>), so
/// the names, order and nulls are still the host's web defaults (camelCase, nulls written); the JIT build keeps the
/// reflection resolver behind it. A type that is written through <c>object</c> (a trigger's condition, a target's
/// settings) or as a top-level answer must be listed here; collections are answered as arrays, whose metadata is
/// found from the declared type (an interface would be looked up by the runtime type, e.g. a LINQ iterator). Its own
/// options are the web defaults too, so <c>ApiJsonContext.Default.ChangeBody</c> reads a body as the API always has
/// (camelCase, case-insensitive, numbers from strings): what the API reads by hand and the CLI sends.
/// </summary>
[JsonSerializable(typeof(HealthView))]
[JsonSerializable(typeof(ReadyView))]
[JsonSerializable(typeof(PolicyView[]))]
[JsonSerializable(typeof(RuleFileStatus[]))]
[JsonSerializable(typeof(IncidentView[]))]
[JsonSerializable(typeof(IncidentTimelineView))]
[JsonSerializable(typeof(AnswerView))]
[JsonSerializable(typeof(ManualRollbackBody))]
[JsonSerializable(typeof(AnswerBody))]
[JsonSerializable(typeof(ChangeBody))]
[JsonSerializable(typeof(ChangeView))]
[JsonSerializable(typeof(ChangeView[]))]
[JsonSerializable(typeof(GateView))]
[JsonSerializable(typeof(ClusterView))]
[JsonSerializable(typeof(SlackEphemeralView))]
[JsonSerializable(typeof(WebhookTargetView))]
[JsonSerializable(typeof(KubectlTargetView))]
[JsonSerializable(typeof(HelmTargetView))]
[JsonSerializable(typeof(HAProxyTargetView))]
[JsonSerializable(typeof(ErrorRateConditionView))]
[JsonSerializable(typeof(BurnRateConditionView))]
[JsonSerializable(typeof(LatencyConditionView))]
[JsonSerializable(typeof(AvailabilityConditionView))]
[JsonSerializable(typeof(ThresholdConditionView))]
[JsonSerializable(typeof(EmptyView))]
[JsonSerializable(typeof(JsonElement))]
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
internal sealed partial class ApiJsonContext : JsonSerializerContext;

internal static class ApiJson
{
    /// <summary>
    /// The options the host writes answers with (ASP.NET Core's <c>JsonOptions</c>: the web defaults and its relaxed
    /// escaping, so <c>{app="shop"}</c> reads as it always did, not <c>\u0022</c>), with this metadata: for an answer that
    /// names its metadata (a status code of its own).
    /// </summary>
    public static readonly JsonSerializerOptions Answers = new(new Microsoft.AspNetCore.Http.Json.JsonOptions().SerializerOptions) { TypeInfoResolver = ApiJsonContext.Default };

    /// <summary>The metadata of <typeparamref name="T"/> under <see cref="Answers"/>.</summary>
    public static System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> Answer<T>() =>
        (System.Text.Json.Serialization.Metadata.JsonTypeInfo<T>)Answers.GetTypeInfo(typeof(T));

    /// <summary>The API's JSON: the source-generated metadata first (see <see cref="ApiJsonContext"/>).</summary>
    public static IServiceCollection AddApiJson(this IServiceCollection services) =>
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, ApiJsonContext.Default));
}

/// <summary><c>/healthz</c>.</summary>
internal sealed record HealthView(string Status);

/// <summary><c>/readyz</c> when ready.</summary>
internal sealed record ReadyView(string Status, int Policies);

/// <summary>An accepted answer or manual rollback: what happened and the incident as it is now.</summary>
internal sealed record AnswerView(bool Accepted, string Message, IncidentView Incident);

/// <summary><c>GET /api/v1/incidents/{id}</c>: the incident, its evidence as stored, and what happened to it.</summary>
internal sealed record IncidentTimelineView(
    IncidentView Incident,
    JsonElement Evidence,
    IReadOnlyList<IncidentEventView> Events,
    IReadOnlyList<IncidentActionView> Actions,
    IReadOnlyList<AcknowledgmentView> Acknowledgments);

internal sealed record IncidentEventView(string At, string Kind, string Message);

internal sealed record IncidentActionView(
    long Id,
    string Kind,
    string Target,
    string Status,
    string CreatedAt,
    string? StartedAt,
    string? CompletedAt,
    string? Outcome,
    JsonElement? Plan,
    string? Before,
    string? After);

internal sealed record AcknowledgmentView(string By, string Channel, string Answer, string? Reason, string At);

/// <summary>Slack's answer shown only to the person who clicked (Slack's field names).</summary>
internal sealed record SlackEphemeralView(
    [property: JsonPropertyName("response_type")] string ResponseType,
    [property: JsonPropertyName("replace_original")] bool ReplaceOriginal,
    [property: JsonPropertyName("text")] string Text);

/// <summary><c>{}</c>: a block with no fields the API shows.</summary>
internal sealed record EmptyView;
