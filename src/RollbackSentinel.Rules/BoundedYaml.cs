using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace RollbackSentinel.Rules;

/// <summary>
/// Loads any YAML the sentinel reads (rules, settings) within <see cref="RuleLimits"/>: a file nested 40,000 levels
/// deep or an alias bomb is a <see cref="YamlException"/> with its position, never a stack overflow or a hang.
/// </summary>
public static class BoundedYaml
{
    public static YamlStream Load(TextReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var stream = new YamlStream();
        stream.Load(new BoundedParser(new Parser(reader)));
        return stream;
    }
}
