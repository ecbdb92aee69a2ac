using System.Globalization;

namespace BlueGreenDemo;

/// <summary>One server line of <c>show servers state BACKEND</c>.</summary>
public sealed record HAProxyServerLine(string Name, int Weight, int OperationalState, int AdminState);

/// <summary>Reads HAProxy's <c>show servers state</c> answer (a version line, a <c># be_id be_name ...</c> header, one line per server).</summary>
public static class HAProxyServers
{
    public static IReadOnlyList<HAProxyServerLine> Parse(string answer)
    {
        ArgumentNullException.ThrowIfNull(answer);
        var lines = answer.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var header = lines.FirstOrDefault(l => l.StartsWith("# be_id", StringComparison.Ordinal))?.TrimStart('#', ' ').Split(' ', StringSplitOptions.RemoveEmptyEntries)
            ?? throw new FormatException("not a 'show servers state' answer: " + answer);
        int Column(string name) => Array.IndexOf(header, name) is var i and >= 0 ? i : throw new FormatException($"no column {name} in: {string.Join(' ', header)}");
        var (nameAt, weightAt, opAt, adminAt) = (Column("srv_name"), Column("srv_uweight"), Column("srv_op_state"), Column("srv_admin_state"));
        return lines
            .Where(l => !l.StartsWith('#') && l.Contains(' ', StringComparison.Ordinal))
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(f => new HAProxyServerLine(
                f[nameAt],
                int.Parse(f[weightAt], CultureInfo.InvariantCulture),
                int.Parse(f[opAt], CultureInfo.InvariantCulture),
                int.Parse(f[adminAt], CultureInfo.InvariantCulture)))
            .ToArray();
    }

    /// <summary><c>blue=100 green=0</c>.</summary>
    public static string Describe(IEnumerable<HAProxyServerLine> servers) =>
        string.Join(' ', servers.Select(s => $"{s.Name}={s.Weight.ToString(CultureInfo.InvariantCulture)}"));
}
