using System.Security.Cryptography;
using System.Text;
using RollbackSentinel.Hosting;

namespace RollbackSentinel.Api;

/// <summary>
/// The API's bearer token: from config (a file, preferably) or, when none is set, generated at start and
/// written next to the store with owner-only permissions, so the CLI on the same machine can read it and
/// nothing else can. Never logged.
/// </summary>
internal sealed class ApiToken
{
    public const string FileName = "api-token";

    private readonly byte[] _expected;

    public ApiToken(SentinelOptions options)
    {
        var configured = options.ResolveApiToken();
        if (configured is not null)
        {
            Value = configured;
            Source = options.Http.ApiTokenFile ?? "configuration";
        }
        else
        {
            Value = Convert.ToHexString(RandomNumberGenerator.GetBytes(32)).ToLowerInvariant();
            var dir = Path.GetDirectoryName(Path.GetFullPath(options.Storage.Path))!;
            Directory.CreateDirectory(dir);
            Source = Path.Combine(dir, FileName);
            File.Delete(Source);
            var owner = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                owner.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite; // never readable by others, not even briefly
            }

            using var file = new StreamWriter(Source, Encoding.UTF8, owner);
            file.Write(Value);
        }

        Core.Secrets.SecretRegistry.Shared.Register(Value);
        _expected = Encoding.UTF8.GetBytes(Value);
    }

    public string Value { get; }

    /// <summary>Where the token came from (a path or "configuration"), for the start-up log line.</summary>
    public string Source { get; }

    public bool Matches(string? presented) =>
        !string.IsNullOrWhiteSpace(presented) && _expected.Length > 0 && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), _expected);
}
