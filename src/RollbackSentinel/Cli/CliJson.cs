using System.Text.Json;
using System.Text.Json.Serialization;
using RollbackSentinel.Api;

namespace RollbackSentinel.Cli;

/// <summary>
/// The JSON the CLI prints (<c>--format json</c>), indented, with compile-time metadata (the Native AOT executable has no
/// reflection-based serializer, docs/aot.md). The documents' fields are written in camelCase, as they always were.
/// </summary>
[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(JsonElement))]
[JsonSerializable(typeof(ValidateJson.Document))]
[JsonSerializable(typeof(StatusCommands.StatusDocument))]
internal sealed partial class CliJsonContext : JsonSerializerContext;

/// <summary>The bodies the CLI sends to the daemon's API: the API's own types, as the API reads them (web defaults).</summary>
internal static class CliRequests
{
    public static System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> Info<T>() => ApiJson.Info<T>();
}
