using System.Collections;
using System.ComponentModel;
using System.Globalization;
using System.Diagnostics.CodeAnalysis;
using System.Reflection;

namespace RollbackSentinel.Hosting;

/// <summary>
/// The settings keys the daemon knows, read by reflection from <see cref="SentinelOptions"/> and its nested classes, so a
/// setting added there is known here without another list to keep in step. The configuration binder ignores keys
/// it does not know; this is what turns a typo (<c>promethues:</c>) into an error instead of a silent default.
/// </summary>
internal sealed class SettingsSchema
{
    private readonly Dictionary<string, SettingsSchema>? _children;

    [UnconditionalSuppressMessage("Trimming", "IL2070", Justification = "Only settings classes, kept whole (see For).")]
    [UnconditionalSuppressMessage("Trimming", "IL2075", Justification = "Only settings classes, kept whole (see For).")]
    private SettingsSchema(Type type, string? name)
    {
        Type = Nullable.GetUnderlyingType(type) ?? type;
        Name = name;
        if (IsScalar(Type))
        {
            Kind = SettingKind.Scalar;
        }
        else if (DictionaryValueType(Type) is { } value)
        {
            Kind = SettingKind.Map;
            Element = new SettingsSchema(value, null);
        }
        else if (ElementType(Type) is { } element)
        {
            Kind = SettingKind.List;
            Element = new SettingsSchema(element, null);
        }
        else
        {
            Kind = SettingKind.Section;
            _children = new Dictionary<string, SettingsSchema>(StringComparer.OrdinalIgnoreCase);
            foreach (var p in Type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            {
                // What the binder sets: public setters (init included); and objects and collections it fills in place.
                var bindable = p.GetIndexParameters().Length == 0
                    && (p.SetMethod is { IsPublic: true } || (p.GetMethod is { IsPublic: true } && !IsScalar(Nullable.GetUnderlyingType(p.PropertyType) ?? p.PropertyType)));
                if (bindable)
                {
                    _children[p.Name] = new SettingsSchema(p.PropertyType, CamelCase(p.Name));
                }
            }
        }
    }

    public static SettingsSchema Sentinel { get; } = For(typeof(SentinelOptions));

    /// <summary>The keys of any settings class (the daemon's is <see cref="Sentinel"/>).</summary>
    /// <remarks>
    /// The schema walks the settings classes' properties by reflection; the Native AOT build keeps every member of
    /// <see cref="SentinelOptions"/> and its nested classes (the dependency below), which are all it is used on.
    /// </remarks>
    [DynamicDependency(DynamicallyAccessedMemberTypes.All, typeof(SentinelOptions))]
    [UnconditionalSuppressMessage("Trimming", "IL2070", Justification = "The settings classes are kept whole by the DynamicDependency.")]
    [UnconditionalSuppressMessage("Trimming", "IL2075", Justification = "The settings classes are kept whole by the DynamicDependency.")]
    public static SettingsSchema For(Type settings) => new(settings, null);

    public Type Type { get; }

    /// <summary>The key as written in sentinel.yaml (camelCase); null for the root and list items.</summary>
    public string? Name { get; }

    public SettingKind Kind { get; }

    /// <summary>A list's items, or a map's values.</summary>
    public SettingsSchema? Element { get; }

    public IEnumerable<string> ChildNames => (_children?.Values.Select(c => c.Name!) ?? []).Order(StringComparer.Ordinal);

    /// <summary>The setting under this one called <paramref name="key"/> (any case, as the binder matches); null if unknown.</summary>
    public SettingsSchema? Child(string key) => Kind switch
    {
        SettingKind.Section => _children!.GetValueOrDefault(key),
        SettingKind.Map => Element,
        SettingKind.List => int.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out _) ? Element : null,
        _ => null,
    };

    /// <summary>The closest known key to a misspelt one, if one is close enough to be what was meant.</summary>
    public string? Suggest(string key)
    {
        if (Kind != SettingKind.Section)
        {
            return null;
        }

        var best = _children!.Values
            .Select(c => (c.Name!, Distance: Levenshtein(key.ToLowerInvariant(), c.Name!.ToLowerInvariant())))
            .OrderBy(c => c.Distance)
            .FirstOrDefault();
        return best.Item1 is not null && best.Distance <= Math.Max(2, key.Length / 3) ? best.Item1 : null;
    }

    /// <summary>Null if <paramref name="value"/> converts to this scalar's type, else why not.</summary>
    public string? CheckValue(string? value)
    {
        if (Kind != SettingKind.Scalar || value is null || Type == typeof(string))
        {
            return null;
        }

        if (Type == typeof(bool))
        {
            return bool.TryParse(value, out _) ? null : $"'{value}' is not true or false";
        }

        if (Type.IsEnum)
        {
            return Enum.TryParse(Type, value, ignoreCase: true, out _) ? null : $"'{value}' is not one of {string.Join(", ", Enum.GetNames(Type).Select(CamelCase))}";
        }

        // The numbers as the configuration binder reads them (invariant culture); TypeDescriptor for anything else.
        if (Type == typeof(int) || Type == typeof(long) || Type == typeof(double))
        {
            var ok = Type == typeof(int) ? int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out _)
                : Type == typeof(long) ? long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out _)
                : double.TryParse(value, NumberStyles.Float | NumberStyles.AllowThousands, CultureInfo.InvariantCulture, out _);
            return ok ? null : $"'{value}' is not a number";
        }

        try
        {
            ConvertFromInvariantString(Type, value);
            return null;
        }
        catch (Exception e) when (e is FormatException or NotSupportedException or ArgumentException or OverflowException)
        {
            return Type == typeof(int) || Type == typeof(long) || Type == typeof(double) || Type == typeof(decimal)
                ? $"'{value}' is not a number"
                : $"'{value}' is not a valid {Type.Name}";
        }
    }

    /// <summary>What a setting of this kind looks like, for "expected ..." messages.</summary>
    public string Describe() => Kind switch
    {
        SettingKind.Section => $"a section with {string.Join(", ", ChildNames)}",
        SettingKind.List => "a list",
        SettingKind.Map => "a mapping",
        _ => "a single value",
    };

    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Scalars only (decimal, TimeSpan, DateTimeOffset, Uri): their converters are built in.")]
    [UnconditionalSuppressMessage("Trimming", "IL2067", Justification = "Scalars only, as above.")]
    private static void ConvertFromInvariantString(Type type, string value) => TypeDescriptor.GetConverter(type).ConvertFromInvariantString(value);

    [UnconditionalSuppressMessage("Trimming", "IL2070", Justification = "Only settings classes, kept whole (see For).")]
    private static bool IsScalar(Type t) =>
        t.IsPrimitive || t.IsEnum || t == typeof(string) || t == typeof(decimal) || t == typeof(TimeSpan) || t == typeof(DateTimeOffset) || t == typeof(Uri);

    [UnconditionalSuppressMessage("Trimming", "IL2070", Justification = "Only settings classes, kept whole (see For).")]
    private static Type? DictionaryValueType(Type t) =>
        (t.IsInterface && t.IsGenericType ? [t] : t.GetInterfaces())
            .FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() is var d && (d == typeof(IDictionary<,>) || d == typeof(IReadOnlyDictionary<,>)))
            ?.GetGenericArguments()[1];

    [UnconditionalSuppressMessage("Trimming", "IL2070", Justification = "Only settings classes, kept whole (see For).")]
    private static Type? ElementType(Type t) =>
        t.IsArray ? t.GetElementType()
        : typeof(IEnumerable).IsAssignableFrom(t)
            ? (t.IsInterface && t.IsGenericType ? [t] : t.GetInterfaces()).FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>))?.GetGenericArguments()[0]
            : null;

    private static string CamelCase(string name) => name.Length == 0 ? name : char.ToLowerInvariant(name[0]) + name[1..];

    private static int Levenshtein(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }
}

internal enum SettingKind
{
    Scalar,
    Section,
    List,
    Map,
}
