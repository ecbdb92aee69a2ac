using RollbackSentinel.Hosting;

namespace RollbackSentinel.Cli.Tests.Daemon;

/// <summary>The settings keys come from the options classes by reflection: a setting added there is known without another list.</summary>
public sealed class SettingsSchemaTests
{
    // Shaped like settings other engineers add: a list of folders, a nested section of limits, a map.
    private sealed class Settings
    {
        public SecretsSettings Secrets { get; set; } = new();

        public LimitSettings Limits { get; } = new();

        public Dictionary<string, string> Labels { get; set; } = [];

        public bool Enabled => true;

        public sealed class SecretsSettings
        {
            public List<string> AllowedDirectories { get; set; } = [];
        }

        public sealed class LimitSettings
        {
            public int MaxSeries { get; set; } = 10_000;

            public double? Share { get; init; }
        }
    }

    [Fact]
    public void For_NestedListsSectionsAndMaps_KnowsEveryBindableKeyInAnyCase()
    {
        var schema = SettingsSchema.For(typeof(Settings));

        Assert.Equal(SettingKind.Scalar, schema.Child("secrets")!.Child("allowedDirectories")!.Child("0")!.Kind);
        Assert.Equal(SettingKind.Scalar, schema.Child("LIMITS")!.Child("maxseries")!.Kind);
        Assert.Equal(SettingKind.Scalar, schema.Child("limits")!.Child("share")!.Kind);
        Assert.Equal(SettingKind.Scalar, schema.Child("labels")!.Child("any-key")!.Kind);
        Assert.Null(schema.Child("enabled"));
        Assert.Null(schema.Child("secrets")!.Child("allowedDirectories")!.Child("first"));
        Assert.Equal(["labels", "limits", "secrets"], schema.ChildNames);
    }

    [Fact]
    public void Suggest_ATypo_IsTheClosestKeyAndNothingWhenFarOff()
    {
        var secrets = SettingsSchema.For(typeof(Settings)).Child("secrets")!;

        Assert.Equal("allowedDirectories", secrets.Suggest("alowedDirectory"));
        Assert.Null(secrets.Suggest("timeout"));
    }

    [Fact]
    public void CheckValue_WrongType_SaysWhy()
    {
        var limits = SettingsSchema.For(typeof(Settings)).Child("limits")!;

        Assert.Equal("'lots' is not a number", limits.Child("maxSeries")!.CheckValue("lots"));
        Assert.Null(limits.Child("maxSeries")!.CheckValue("500"));
        Assert.Equal("'half' is not a number", limits.Child("share")!.CheckValue("half"));
    }

    [Fact]
    public void Load_TheExampleSettingsFile_HasNoUnknownKey()
    {
        // sentinel.example.yaml documents the settings: every key in it is one.
        var result = SettingsLoader.Load(Path.Combine(RepoRoot.Path, "sentinel.example.yaml"), new Dictionary<string, string?>(), environment: new Dictionary<string, string>());

        Assert.Empty(result.UnknownOrMalformed);
    }

    [Fact]
    public void Load_YamlNullForASetting_LeavesItUnsetInsteadOfRejectingTheText()
    {
        // "externalUrl:" or "apiTokenFile: ~" is YAML for "no value": the setting keeps its default, it is not the text "~".
        var dir = Directory.CreateTempSubdirectory("sentinel-settings-").FullName;
        try
        {
            var config = Path.Combine(dir, "sentinel.yaml");
            File.WriteAllText(
                config,
                $"rules: {dir}\nnotifications:\n  externalUrl:\n  alertmanager:\n    url: ~\nhttp:\n  apiTokenFile: null\nprometheus:\n  bearerTokenFile: ~\n  limits:\n    maxSeries: ~\nsecrets:\n  allowedDirectories: ~\n");

            var result = SettingsLoader.Load(config, new Dictionary<string, string?>(), environment: new Dictionary<string, string>());

            Assert.Empty(result.Problems);
            Assert.Null(result.Options.Notifications.ExternalUrl);
            Assert.Null(result.Options.Notifications.Alertmanager.Url);
            Assert.Null(result.Options.Http.ApiTokenFile);
            Assert.Null(result.Options.Prometheus.BearerTokenFile);
            Assert.Equal(10_000, result.Options.Prometheus.Limits.MaxSeries);
            Assert.Equal(["/var/run/secrets/rollback-sentinel"], result.Options.Secrets.EffectiveAllowedDirectories);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Load_TheExampleSettingsFileWithItsCommentedKeysTurnedOn_HasNoUnknownKey()
    {
        // The commented-out lines show optional settings: they must be settings too, once uncommented.
        var dir = Directory.CreateTempSubdirectory("sentinel-settings-").FullName;
        try
        {
            var lines = File.ReadAllLines(Path.Combine(RepoRoot.Path, "sentinel.example.yaml"))
                .Select(l => System.Text.RegularExpressions.Regex.Replace(l, @"^( {0,4})# (\s*[A-Za-z]+:)", "$1$2"));
            var config = Path.Combine(dir, "sentinel.yaml");
            File.WriteAllLines(config, lines);

            var result = SettingsLoader.Load(config, new Dictionary<string, string?>(), environment: new Dictionary<string, string>());

            Assert.Empty(result.UnknownOrMalformed);
            Assert.Equal("C0123DEPLOY", result.Options.Notifications.Slack.Channel);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
