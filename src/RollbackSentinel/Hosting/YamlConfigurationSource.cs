using Microsoft.Extensions.Configuration;
using YamlDotNet.RepresentationModel;

namespace RollbackSentinel.Hosting;

/// <summary>
/// Reads <c>sentinel.yaml</c> into configuration keys (<c>prometheus:url</c>), so the file, environment
/// variables (<c>SENTINEL__PROMETHEUS__URL</c>) and defaults all bind to <see cref="SentinelOptions"/> alike.
/// (No YAML provider is available as a package; this is the small piece we need.)
/// </summary>
internal sealed class YamlConfigurationSource(string path) : IConfigurationSource
{
    public IConfigurationProvider Build(IConfigurationBuilder builder) => new YamlConfigurationProvider(path);

    private sealed class YamlConfigurationProvider(string path) : ConfigurationProvider
    {
        public override void Load()
        {
            var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            YamlStream stream;
            using (var reader = File.OpenText(path))
            {
                // Within the rules' limits: a settings file nested 40,000 levels deep is an error, not a stack overflow.
                stream = Rules.BoundedYaml.Load(reader);
            }

            if (stream.Documents.Count > 0)
            {
                Flatten(stream.Documents[0].RootNode, null, data);
            }

            Data = data;
        }

        private static void Flatten(YamlNode node, string? prefix, Dictionary<string, string?> data)
        {
            switch (node)
            {
                case YamlMappingNode map:
                    foreach (var (k, v) in map.Children)
                    {
                        var key = ((YamlScalarNode)k).Value!;
                        Flatten(v, prefix is null ? key : $"{prefix}:{key}", data);
                    }

                    break;
                case YamlSequenceNode seq:
                    for (var i = 0; i < seq.Children.Count; i++)
                    {
                        Flatten(seq.Children[i], $"{prefix}:{i}", data);
                    }

                    break;
                case YamlScalarNode scalar when prefix is not null:
                    data[prefix] = scalar.Value;
                    break;
            }
        }
    }
}
