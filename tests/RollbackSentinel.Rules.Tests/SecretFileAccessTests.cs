using RollbackSentinel.Core.Secrets;
using static RollbackSentinel.Rules.Tests.Support.PolicyYaml;

namespace RollbackSentinel.Rules.Tests;

/// <summary>
/// Secret files named by rules come only from the directories the operator allows, judged by their real path,
/// and never the daemon's own credentials or store: at load time (an error at the field) and at read time.
/// </summary>
public sealed class SecretFileAccessTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sentinel-secret-files-").FullName;
    private readonly string _allowed;
    private readonly string _elsewhere;
    private readonly string _apiToken;
    private readonly SecretFileAccess _access;

    public SecretFileAccessTests()
    {
        _allowed = Directory.CreateDirectory(Path.Combine(_root, "secrets")).FullName;
        _elsewhere = Directory.CreateDirectory(Path.Combine(_root, "data")).FullName;
        _apiToken = Path.Combine(_allowed, "api-token");
        File.WriteAllText(_apiToken, "the-api-token-value");
        File.WriteAllText(Path.Combine(_allowed, "pd-key"), "\uFEFFa-routing-key-of-this-policy\n");
        File.WriteAllText(Path.Combine(_elsewhere, "other"), "not for rules");
        _access = new SecretFileAccess([_allowed], [(_apiToken, "the API token"), (Path.Combine(_elsewhere, "sentinel.db"), "the store")]);
    }

    [Fact]
    public void Problem_FileInAllowedDirectory_IsNone()
    {
        Assert.Null(_access.Problem(Path.Combine(_allowed, "pd-key")));
        Assert.Null(_access.Problem(Path.Combine(_allowed, "not-mounted-yet")));
    }

    [Fact]
    public void Problem_FileOutsideAllowedDirectories_SaysWhereSecretsMayBe()
    {
        var problem = _access.Problem(Path.Combine(_elsewhere, "other"));

        Assert.Equal(
            $"'{Path.Combine(_elsewhere, "other")}' is not in a directory allowed for secret files ({_allowed}); put it there or add its directory to secrets.allowedDirectories in the daemon's settings",
            problem);
    }

    [Fact]
    public void Problem_DotDotOutOfAllowedDirectory_IsRefused()
    {
        var sneaky = _allowed + "/../data/other";

        Assert.Contains($"(really {Path.Combine(_elsewhere, "other")}) is not in a directory allowed", _access.Problem(sneaky), StringComparison.Ordinal);
    }

    [Fact]
    public void Problem_SymlinkInAllowedDirectoryPointingOut_IsRefused()
    {
        var link = Path.Combine(_allowed, "innocent");
        File.CreateSymbolicLink(link, Path.Combine(_elsewhere, "other"));

        Assert.Contains($"'{link}' (really {Path.Combine(_elsewhere, "other")}) is not in a directory allowed", _access.Problem(link), StringComparison.Ordinal);
    }

    [Fact]
    public void Problem_DotDotAfterSymlinkedDirectory_LeavesTheLinkTargetNotTheLink()
    {
        // allowed/dir -> data/sub; allowed/dir/../other is data/other for the kernel, not allowed/other.
        var sub = Directory.CreateDirectory(Path.Combine(_elsewhere, "sub")).FullName;
        Directory.CreateSymbolicLink(Path.Combine(_allowed, "dir"), sub);
        File.WriteAllText(Path.Combine(_allowed, "other"), "an allowed file of the same name");

        Assert.Equal(Path.Combine(_elsewhere, "other"), SecretFileAccess.RealPath(Path.Combine(_allowed, "dir") + "/../other"));
        Assert.NotNull(_access.Problem(Path.Combine(_allowed, "dir") + "/../other"));
    }

    [Fact]
    public void Problem_ApiTokenInsideAllowedDirectory_IsRefusedByNameAndThroughALink()
    {
        var link = Path.Combine(_allowed, "routing-key");
        File.CreateSymbolicLink(link, _apiToken);

        Assert.Equal($"'{_apiToken}' is the API token: a rule may never name the daemon's own credentials or store", _access.Problem(_apiToken));
        Assert.Equal($"'{link}' (really {_apiToken}) is the API token: a rule may never name the daemon's own credentials or store", _access.Problem(link));
    }

    [Fact]
    public void Problem_KubernetesServiceAccountToken_IsRefusedEvenWhenItsParentIsAllowed()
    {
        var access = new SecretFileAccess(["/var/run/secrets", "/run/secrets"]);

        Assert.Contains("the Kubernetes service-account credentials", access.Problem("/var/run/secrets/kubernetes.io/serviceaccount/token"), StringComparison.Ordinal);
    }

    [Fact]
    public void Read_AllowedFile_ReturnsTrimmedTextWithoutBomAndRegistersIt()
    {
        var registry = new SecretRegistry();
        var access = new SecretFileAccess([_allowed], registry: registry);

        Assert.Equal("a-routing-key-of-this-policy", access.Read(Path.Combine(_allowed, "pd-key")));
        Assert.Equal($"key {SecretRegistry.Marker}", registry.Redact("key a-routing-key-of-this-policy"));
    }

    [Fact]
    public void Read_FileSwappedForALinkAfterLoading_IsRefusedAtReadTime()
    {
        var file = Path.Combine(_allowed, "webhook-secret");
        File.WriteAllText(file, "webhook-secret-value");
        Assert.Null(_access.Problem(file));

        File.Delete(file);
        File.CreateSymbolicLink(file, _apiToken);

        var e = Assert.Throws<SecretFileRefusedException>(() => _access.Read(file));
        Assert.Contains("is the API token", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_PolicyNamingFilesOutsideAllowedDirectories_IsRejectedWithAnErrorAtEachField()
    {
        var rules = Path.Combine(_root, "rules.yaml");
        File.WriteAllText(rules, Document(
            target: $"webhook:\n  url: https://hooks.example.com/abort\n  secretFile: {_apiToken}",
            spec: $"notify:\n  pagerdutyRoutingKeyFile: {Path.Combine(_elsewhere, "other")}"));

        var loaded = RuleSetLoader.Load([rules], _access);

        Assert.Empty(loaded.Policies);
        Assert.Equal(
            [
                $"{rules}:9:19: spec.target.webhook.secretFile: '{_apiToken}' is the API token: a rule may never name the daemon's own credentials or store",
                $"{rules}:11:30: spec.notify.pagerdutyRoutingKeyFile: '{Path.Combine(_elsewhere, "other")}' is not in a directory allowed for secret files ({_allowed}); put it there or add its directory to secrets.allowedDirectories in the daemon's settings",
            ],
            loaded.Errors.Select(d => d.ToString()));
    }

    [Fact]
    public void Load_PolicyNamingFilesInAllowedDirectory_Loads()
    {
        var rules = Path.Combine(_root, "rules.yaml");
        File.WriteAllText(rules, Document(
            target: $"kubectl:\n  name: checkout\n  kubeconfig: {Path.Combine(_allowed, "kubeconfig")}",
            spec: $"notify:\n  pagerdutyRoutingKeyFile: {Path.Combine(_allowed, "pd-key")}"));

        var loaded = RuleSetLoader.Load([rules], _access);

        Assert.Empty(loaded.Diagnostics.Select(d => d.ToString()));
        Assert.Equal(Path.Combine(_allowed, "pd-key"), Assert.Single(loaded.Policies).Notify.PagerDutyRoutingKeyFile);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void Load_WithCache_PolicyNamingASecretFile_IsCheckedAgainOnEveryLoad_SoALinkMovedOntoTheApiTokenIsCaught()
    {
        var secret = Path.Combine(_allowed, "webhook-secret");
        File.WriteAllText(secret, "webhook-secret-value");
        var rules = Path.Combine(_root, "rules.yaml");
        File.WriteAllText(rules, Document(target: $"webhook:\n  url: https://hooks.example.com/abort\n  secretFile: {secret}"));
        var cache = new RuleParseCache();
        Assert.Single(RuleSetLoader.Load([rules], _access, cache).Policies);

        // The rule file's bytes are the same, but the path it names now leads to the daemon's own token.
        File.Delete(secret);
        File.CreateSymbolicLink(secret, _apiToken);
        var again = RuleSetLoader.Load([rules], _access, cache);

        Assert.Equal(0, cache.LastReused);
        Assert.Empty(again.Policies);
        Assert.Contains(again.Errors, d => d.Field == "spec.target.webhook.secretFile" && d.Message.Contains("is the API token", StringComparison.Ordinal));
    }

    [Fact]
    public void Load_WithCache_AParseMadeWithoutSecretChecks_IsNotReusedByALoadThatChecks()
    {
        var rules = Path.Combine(_root, "rules.yaml");
        File.WriteAllText(rules, Document(target: $"webhook:\n  url: https://hooks.example.com/abort\n  secretFile: {_apiToken}"));
        var cache = new RuleParseCache();
        Assert.Single(RuleSetLoader.Load([rules], null, cache).Policies);

        var checkedLoad = RuleSetLoader.Load([rules], _access, cache);

        Assert.Equal(0, cache.LastReused);
        Assert.Empty(checkedLoad.Policies);
        Assert.Contains(checkedLoad.Errors, d => d.Field == "spec.target.webhook.secretFile");
    }
}
