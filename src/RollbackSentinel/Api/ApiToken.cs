using System.Security.Cryptography;
using System.Text;
using RollbackSentinel.Hosting;

namespace RollbackSentinel.Api;

/// <summary>
/// The API's bearer tokens. The admin token: from config (a file, preferably) or, when none is set, generated at
/// start and written next to the store with owner-only permissions, so the CLI on the same machine can read it and
/// nothing else can. Optionally a read token and a deploy token (<see cref="ApiScopes"/>), from files only. Never logged.
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

        // Read like the admin token's file (no byte-order mark, trimmed, registered as secrets); settings validation
        // has refused empty, unsendable and shared ones, and an empty one never matches anyway.
        _scoped =
        [
            (Encoding.UTF8.GetBytes(options.ResolveDeployToken() ?? string.Empty), ApiScopes.Deploy),
            (Encoding.UTF8.GetBytes(options.ResolveReadToken() ?? string.Empty), ApiScopes.Read),
        ];
    }

    private readonly (byte[] Token, string Scope)[] _scoped;

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

    /// <summary>Whether <paramref name="presented"/> is the admin token.</summary>
    public bool Matches(string? presented) => ScopeOf(presented) == ApiScopes.Admin;

    /// <summary>What the presented token may do (<see cref="ApiScopes.Admin"/>, <see cref="ApiScopes.Deploy"/> or <see cref="ApiScopes.Read"/>), or null: it is none of them.</summary>
    public string? ScopeOf(string? presented)
    {
        if (string.IsNullOrWhiteSpace(presented))
        {
            return null;
        }

        // Every token is compared, in constant time each, so the answer's timing says nothing about which one nearly matched.
        var bytes = Encoding.UTF8.GetBytes(presented);
        string? scope = Same(bytes, _expected) ? ApiScopes.Admin : null;
        foreach (var (token, tokenScope) in _scoped)
        {
            if (Same(bytes, token))
            {
                scope ??= tokenScope;
            }
        }

        return scope;
    }

    private static bool Same(byte[] presented, byte[] expected) => expected.Length > 0 && CryptographicOperations.FixedTimeEquals(presented, expected);
}
