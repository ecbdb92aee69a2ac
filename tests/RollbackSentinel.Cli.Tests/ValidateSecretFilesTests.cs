namespace RollbackSentinel.Cli.Tests;

/// <summary><c>validate</c> reports a secret file a rule may not name exactly as the daemon rejects it.</summary>
public sealed class ValidateSecretFilesTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sentinel-validate-secrets-").FullName;

    [Fact]
    public async Task Validate_RoutingKeyFileOutsideTheDefaultSecretsFolder_IsAnErrorAtTheField()
    {
        using var rules = new RulesFolder(("stolen.yaml", Policy("/etc/passwd")));

        var run = await CliRun.RunAsync("validate", rules.Path);

        Assert.Equal(1, run.ExitCode);
        Assert.Equal(
            $"{Path.Combine(rules.Path, "stolen.yaml")}:10:30: spec.notify.pagerdutyRoutingKeyFile: '/etc/passwd' is not in a directory allowed for secret files (/var/run/secrets/rollback-sentinel); " +
            "put it there or add its directory to secrets.allowedDirectories in the daemon's settings",
            run.Error.Trim());
    }

    [Fact]
    public async Task Validate_WithConfig_AllowsItsDirectoriesButNeverItsApiTokenOrAnEscape()
    {
        var allowed = Directory.CreateDirectory(Path.Combine(_root, "secrets")).FullName;
        var token = Path.Combine(allowed, "api-token");
        File.WriteAllText(token, "the-token");
        File.CreateSymbolicLink(Path.Combine(allowed, "link"), "/etc/passwd");
        var config = Path.Combine(_root, "sentinel.yaml");
        File.WriteAllText(config, $"secrets:\n  allowedDirectories:\n    - {allowed}\nhttp:\n  apiTokenFile: {token}\n");
        using var rules = new RulesFolder(
            ("ok.yaml", Policy(Path.Combine(allowed, "pd-key"), "ok")),
            ("token.yaml", Policy(token, "token")),
            ("link.yaml", Policy(Path.Combine(allowed, "link"), "link")),
            ("up.yaml", Policy(allowed + "/../sentinel.yaml", "up")));

        var run = await CliRun.RunAsync("validate", "--config", config, rules.Path);

        Assert.Equal(1, run.ExitCode);
        var errors = run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(
            [
                $"{Path.Combine(rules.Path, "link.yaml")}:10:30: spec.notify.pagerdutyRoutingKeyFile: '{Path.Combine(allowed, "link")}' (really /etc/passwd) is not in a directory allowed for secret files ({allowed}); put it there or add its directory to secrets.allowedDirectories in the daemon's settings",
                $"{Path.Combine(rules.Path, "token.yaml")}:10:30: spec.notify.pagerdutyRoutingKeyFile: '{token}' is the API token: a rule may never name the daemon's own credentials or store",
                $"{Path.Combine(rules.Path, "up.yaml")}:10:30: spec.notify.pagerdutyRoutingKeyFile: '{allowed}/../sentinel.yaml' (really {config}) is not in a directory allowed for secret files ({allowed}); put it there or add its directory to secrets.allowedDirectories in the daemon's settings",
            ],
            errors);
        Assert.StartsWith("4 file(s), 1 valid policy", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Validate_WithConfig_NeverAllowsTheScopedTokenFiles()
    {
        var allowed = Directory.CreateDirectory(Path.Combine(_root, "secrets")).FullName;
        var deploy = Path.Combine(allowed, "deploy-token");
        var read = Path.Combine(allowed, "read-token");
        File.WriteAllText(deploy, "the-deploy-token");
        File.WriteAllText(read, "the-read-token");
        var config = Path.Combine(_root, "sentinel.yaml");
        File.WriteAllText(config, $"secrets:\n  allowedDirectories:\n    - {allowed}\nhttp:\n  deployTokenFile: {deploy}\n  readTokenFile: {read}\n");
        using var rules = new RulesFolder(("deploy.yaml", Policy(deploy, "deploy")), ("read.yaml", Policy(read, "read")));

        var run = await CliRun.RunAsync("validate", "--config", config, rules.Path);

        Assert.Equal(1, run.ExitCode);
        Assert.Equal(
            [
                $"{Path.Combine(rules.Path, "deploy.yaml")}:10:30: spec.notify.pagerdutyRoutingKeyFile: '{deploy}' is the API's deploy token: a rule may never name the daemon's own credentials or store",
                $"{Path.Combine(rules.Path, "read.yaml")}:10:30: spec.notify.pagerdutyRoutingKeyFile: '{read}' is the API's read token: a rule may never name the daemon's own credentials or store",
            ],
            run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static string Policy(string keyFile, string name = "stolen") => $"""
        apiVersion: rollback-sentinel/v1
        kind: RollbackPolicy
        metadata:
          name: {name}
        spec:
          target:
            webhook:
              url: http://127.0.0.1:9/rollback
          notify:
            pagerdutyRoutingKeyFile: {keyFile}
          triggers:
            - name: up
              threshold:
                query: up
                op: "<"
                value: 1
              action: page
        """;
}
