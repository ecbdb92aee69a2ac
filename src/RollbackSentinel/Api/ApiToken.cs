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

    private static readonly UTF8Encoding NoBom = new(encoderShouldEmitUTF8Identifier: false);

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

            // No byte-order mark: the file is read by shells too (curl -H "Authorization: Bearer $(cat data/api-token)").
            using var file = new StreamWriter(Source, NoBom, owner);
            file.Write(Value);
        }

        Core.Secrets.SecretRegistry.Shared.Register(Value);
        _expected = Encoding.UTF8.GetBytes(Value);
    }

    public string Value { get; }

    /// <summary>Where the token came from (a path or "configuration"), for the start-up log line.</summary>
    public string Source { get; }

    /// <summary>
    /// A token as written in a file or an environment variable: without a byte-order mark (editors on Windows, and
    /// earlier versions of this daemon, write one) and without surrounding whitespace or line breaks.
    /// </summary>
    public static string Normalize(string text) => text.Trim().TrimStart('\uFEFF').Trim();

    /// <summary>Whether the token can travel in an HTTP header at all (one line of printable ASCII).</summary>
    public static bool IsSendable(string token) => token.All(c => char.IsAscii(c) && !char.IsControl(c));

    /// <summary>Reads a token file (see <see cref="Normalize"/>).</summary>
    public static string ReadFile(string path) => Normalize(File.ReadAllText(path));

    public bool Matches(string? presented) =>
        !string.IsNullOrWhiteSpace(presented) && _expected.Length > 0 && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), _expected);
}
