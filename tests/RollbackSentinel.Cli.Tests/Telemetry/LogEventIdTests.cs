using System.Reflection;
using Microsoft.Extensions.Logging;

namespace RollbackSentinel.Cli.Tests.Telemetry;

/// <summary>
/// Log event ids are what people alert and filter on, so each names one event in the whole product: every
/// <c>[LoggerMessage]</c> of every product assembly has its own, explicit id. The assemblies are found by scanning this
/// test's output folder for <c>RollbackSentinel*.dll</c>, so a new project the host references is covered unasked.
/// </summary>
public sealed class LogEventIdTests
{
    private static readonly string[] Expected =
    [
        "RollbackSentinel", "RollbackSentinel.Core", "RollbackSentinel.Rules", "RollbackSentinel.Prometheus",
        "RollbackSentinel.Storage", "RollbackSentinel.Actions", "RollbackSentinel.Notifications",

        // One project per adapter and channel: found by the scan, not listed for it; named here so losing one fails.
        "RollbackSentinel.Actions.Kubectl", "RollbackSentinel.Actions.Helm", "RollbackSentinel.Actions.HAProxy", "RollbackSentinel.Actions.Webhook",
        "RollbackSentinel.Notifications.Slack", "RollbackSentinel.Notifications.PagerDuty", "RollbackSentinel.Notifications.Alertmanager",
    ];

    private sealed record LogMethod(int EventId, string Name);

    private static IReadOnlyList<Assembly> ProductAssemblies() =>
    [
        .. Directory.GetFiles(AppContext.BaseDirectory, "RollbackSentinel*.dll")
            .Select(Path.GetFileNameWithoutExtension)
            .Where(n => !n!.EndsWith(".Tests", StringComparison.Ordinal) && n != "RollbackSentinel.Testing")
            .Order(StringComparer.Ordinal)
            .Select(n => Assembly.Load(new AssemblyName(n!))),
    ];

    private static IReadOnlyList<LogMethod> LogMethods() =>
    [
        .. ProductAssemblies()
            .SelectMany(Types)
            .SelectMany(t => t.GetMethods(BindingFlags.DeclaredOnly | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static))
            .Select(m => (Method: m, Attribute: m.GetCustomAttribute<LoggerMessageAttribute>()))
            .Where(m => m.Attribute is not null)
            .Select(m => new LogMethod(m.Attribute!.EventId, $"{m.Method.DeclaringType!.FullName}.{m.Method.Name} ({m.Method.DeclaringType.Assembly.GetName().Name})")),
    ];

    private static IEnumerable<Type> Types(Assembly assembly)
    {
        try
        {
            return assembly.GetTypes();
        }
        catch (ReflectionTypeLoadException e)
        {
            return e.Types.OfType<Type>();
        }
    }

    [Fact]
    public void ProductAssemblies_FoundInTheOutputFolder_IncludeEveryProductProject()
    {
        var names = ProductAssemblies().Select(a => a.GetName().Name).ToArray();

        Assert.All(Expected, e => Assert.Contains(e, names));
        Assert.DoesNotContain(names, n => n!.EndsWith(".Tests", StringComparison.Ordinal));
    }

    [Fact]
    public void LoggerMessages_AcrossEveryProductAssembly_HaveUniqueEventIds()
    {
        var methods = LogMethods();

        var duplicates = methods.GroupBy(m => m.EventId)
            .Where(g => g.Count() > 1)
            .OrderBy(g => g.Key)
            .Select(g => $"event id {g.Key}: {string.Join(", ", g.Select(m => m.Name).Order(StringComparer.Ordinal))}")
            .ToArray();

        Assert.True(methods.Count >= 50, $"only {methods.Count} [LoggerMessage] methods found: the scan is missing assemblies");
        Assert.True(duplicates.Length == 0, "event ids used more than once:" + Environment.NewLine + string.Join(Environment.NewLine, duplicates));
    }

    [Fact]
    public void LoggerMessages_AcrossEveryProductAssembly_SetAnExplicitEventId()
    {
        // An id left out is one nobody chose or documented, and it may change with the method.
        var missing = LogMethods().Where(m => m.EventId <= 0).Select(m => m.Name).Order(StringComparer.Ordinal).ToArray();

        Assert.True(missing.Length == 0, "[LoggerMessage] without an EventId:" + Environment.NewLine + string.Join(Environment.NewLine, missing));
    }
}
