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
    /// <summary>Text as it may be stored (a string, or each element of a string array): known secrets replaced by <see cref="SecretRegistry.Marker"/>.</summary>
    public static object? Stored(object? value) => value switch
    {
        string text => SecretRegistry.Shared.Redact(text),
        string[] texts => Array.ConvertAll(texts, SecretRegistry.Shared.Redact),
        _ => value,
    };

    /// <summary>The parameters that carry free text (redacted); every other one is an identity, stored as given.</summary>
    internal static readonly FrozenSet<string> FreeText = FrozenSet.ToFrozenSet(
        ["outcome", "summary", "summaries", "message", "reason", "evidence", "plan", "before", "after", "by", "description", "disarmedReason"],
        StringComparer.Ordinal);

    public static NpgsqlCommand Command(this NpgsqlTransaction transaction, string sql, params ReadOnlySpan<(string Name, object? Value)> parameters) =>
        Command(transaction.Connection!, transaction, sql, parameters);

    /// <summary>A statement run on its own, outside any explicit transaction: PostgreSQL runs it as one, with one snapshot.</summary>
    public static NpgsqlCommand Command(this NpgsqlConnection connection, string sql, params ReadOnlySpan<(string Name, object? Value)> parameters) =>
        Command(connection, null, sql, parameters);

    /// <summary>A statement inside <paramref name="transaction"/>, or on its own when it is null.</summary>
    public static NpgsqlCommand Command(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, params ReadOnlySpan<(string Name, object? Value)> parameters)
    {
        var command = new NpgsqlCommand(sql, connection, transaction);
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

    public static Task<object?> ScalarAsync(this NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters) =>
        ScalarAsync(transaction.Command(sql, parameters), cancellationToken);

    /// <summary>As the transaction's <see cref="ScalarAsync(NpgsqlTransaction, string, CancellationToken, ValueTuple{string, object?}[])"/>, one statement on its own.</summary>
    public static Task<object?> ScalarAsync(this NpgsqlConnection connection, string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters) =>
        ScalarAsync(connection.Command(sql, parameters), cancellationToken);

    private static async Task<object?> ScalarAsync(NpgsqlCommand built, CancellationToken cancellationToken)
    {
        await using var command = built;
        var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return value is DBNull ? null : value;
    }

    public static Task<List<T>> QueryAsync<T>(
        this NpgsqlTransaction transaction,
        string sql,
        Func<NpgsqlDataReader, T> read,
        CancellationToken cancellationToken,
        params (string Name, object? Value)[] parameters) =>
        QueryAsync(transaction.Command(sql, parameters), read, cancellationToken);

    /// <summary>As the transaction's <see cref="QueryAsync{T}(NpgsqlTransaction, string, Func{NpgsqlDataReader, T}, CancellationToken, ValueTuple{string, object?}[])"/>, one statement on its own.</summary>
    public static Task<List<T>> QueryAsync<T>(
        this NpgsqlConnection connection,
        string sql,
        Func<NpgsqlDataReader, T> read,
        CancellationToken cancellationToken,
        params (string Name, object? Value)[] parameters) =>
        QueryAsync(connection.Command(sql, parameters), read, cancellationToken);

    private static async Task<List<T>> QueryAsync<T>(NpgsqlCommand built, Func<NpgsqlDataReader, T> read, CancellationToken cancellationToken)
    {
        await using var command = built;
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
