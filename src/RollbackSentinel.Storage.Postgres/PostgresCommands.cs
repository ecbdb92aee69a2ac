using System.Collections.Frozen;
using Npgsql;
using RollbackSentinel.Core.Secrets;

namespace RollbackSentinel.Storage.Postgres;

/// <summary>
/// Commands bound to a transaction, with parameters given inline (null becomes SQL NULL). As in the SQLite store, every
/// free-text parameter passes through <see cref="Stored"/>, the one boundary where known secrets are redacted;
/// identities (policy names, labels, keys, targets, states, times) are stored as given.
/// </summary>
internal static class PostgresCommands
{
    /// <summary>Text as it may be stored: known secrets replaced by <see cref="SecretRegistry.Marker"/>.</summary>
    public static object? Stored(object? value) => value is string text ? SecretRegistry.Shared.Redact(text) : value;

    /// <summary>The parameters that carry free text (redacted); every other one is an identity, stored as given.</summary>
    internal static readonly FrozenSet<string> FreeText = FrozenSet.ToFrozenSet(
        ["outcome", "summary", "message", "reason", "evidence", "plan", "before", "after", "by", "description", "disarmedReason"],
        StringComparer.Ordinal);

    public static NpgsqlCommand Command(this NpgsqlTransaction transaction, string sql, params ReadOnlySpan<(string Name, object? Value)> parameters)
    {
        var command = new NpgsqlCommand(sql, transaction.Connection, transaction);
        Bind(command.Parameters, parameters);
        return command;
    }

    /// <summary>One statement of an <see cref="NpgsqlBatch"/> (sent with the others in one round trip), bound as <see cref="Command"/> binds.</summary>
    public static NpgsqlBatchCommand BatchCommand(string sql, params ReadOnlySpan<(string Name, object? Value)> parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        Bind(command.Parameters, parameters);
        return command;
    }

    private static void Bind(NpgsqlParameterCollection bound, ReadOnlySpan<(string Name, object? Value)> parameters)
    {
        foreach (var (name, value) in parameters)
        {
            bound.AddWithValue(name, Bindable(FreeText.Contains(name) ? Stored(value) : value) ?? DBNull.Value);
        }
    }

    public static async Task<int> ExecuteAsync(this NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        await using var command = transaction.Command(sql, parameters);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public static async Task<object?> ScalarAsync(this NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        await using var command = transaction.Command(sql, parameters);
        var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return value is DBNull ? null : value;
    }

    public static async Task<List<T>> QueryAsync<T>(
        this NpgsqlTransaction transaction,
        string sql,
        Func<NpgsqlDataReader, T> read,
        CancellationToken cancellationToken,
        params (string Name, object? Value)[] parameters)
    {
        await using var command = transaction.Command(sql, parameters);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var rows = new List<T>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            rows.Add(read(reader));
        }

        return rows;
    }

    public static string? GetNullableString(this NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    public static DateTimeOffset GetTime(this NpgsqlDataReader reader, int ordinal) => reader.GetFieldValue<DateTimeOffset>(ordinal);

    public static DateTimeOffset? GetNullableTime(this NpgsqlDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetTime(ordinal);

    /// <summary>
    /// A time as the store writes and compares it: UTC (Npgsql writes only UTC offsets to <c>timestamptz</c>; any offset is the
    /// same instant), truncated towards the past to the whole microsecond. <c>timestamptz</c> keeps microseconds and .NET
    /// ticks are 100 ns: truncating every time here (stored values and the times a statement compares them with alike)
    /// makes the rule one and explicit, so what is read back is exactly what was written and compared, never rounded
    /// up past a time given. <see cref="DateTimeOffset.MinValue"/> and <see cref="DateTimeOffset.MaxValue"/> are kept
    /// (Npgsql writes them as <c>-infinity</c> and <c>infinity</c>, and reads them back).
    /// </summary>
    public static DateTimeOffset StoredTime(DateTimeOffset time) =>
        time == DateTimeOffset.MinValue || time == DateTimeOffset.MaxValue
            ? time.ToUniversalTime()
            : new DateTimeOffset(time.UtcTicks - (time.UtcTicks % TimeSpan.TicksPerMicrosecond), TimeSpan.Zero);

    private static object? Bindable(object? value) => value is DateTimeOffset time ? StoredTime(time) : value;
}
