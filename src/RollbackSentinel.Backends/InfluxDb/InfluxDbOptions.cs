using System.Text;

namespace RollbackSentinel.Backends.InfluxDb;

/// <summary>
/// Where InfluxDB 1.x is and what to read. <see cref="BackendOptions.BaseAddress"/> is the server's root (the address that
/// serves <c>/query</c>); a path prefix is kept. Credentials: <see cref="BackendOptions.Username"/> and
/// <see cref="BackendOptions.Password"/> go as HTTP basic auth; <see cref="BackendOptions.BearerToken"/> goes as
/// <c>Authorization: Bearer</c>, which InfluxDB 1.x reads as a JWT signed with its <c>[http] shared-secret</c>.
/// <see cref="BackendOptions.Lookback"/> is how old a point may be and still be the value at an instant: keep it at least
/// the interval the data is written at (or the query's <c>GROUP BY time()</c>).
/// </summary>
public sealed record InfluxDbOptions : BackendOptions
{
    public InfluxDbOptions()
    {
        LimitsKey = "backends.influxdb.limits";
    }

    /// <summary>The database every query reads (<c>db</c>). Required.</summary>
    public string Database { get; init; } = string.Empty;

    /// <summary>The retention policy queries read (<c>rp</c>); null for the database's default one.</summary>
    public string? RetentionPolicy { get; init; }

    public override IReadOnlyList<string> Validate()
    {
        var errors = base.Validate().ToList();
        if (string.IsNullOrWhiteSpace(Database))
        {
            errors.Add("Database is required: the InfluxDB database the queries read.");
        }

        if (RetentionPolicy is not null && string.IsNullOrWhiteSpace(RetentionPolicy))
        {
            errors.Add("RetentionPolicy must not be blank; leave it unset for the database's default retention policy.");
        }

        return errors;
    }

    protected override bool PrintMembers(StringBuilder builder)
    {
        base.PrintMembers(builder);
        builder.Append(", Database = ").Append(Database)
            .Append(", RetentionPolicy = ").Append(RetentionPolicy ?? "null");
        return true;
    }
}
