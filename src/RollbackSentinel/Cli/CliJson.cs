using System.Text.Json;
using System.Text.Json.Serialization;

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
