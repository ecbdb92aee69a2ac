using System.Collections.Frozen;
using Microsoft.Data.Sqlite;
using RollbackSentinel.Core.Secrets;

namespace RollbackSentinel.Storage.Sqlite;

/// <summary>
/// Commands bound to a transaction, with parameters given inline (null becomes SQL NULL). Every free-text parameter
/// (<see cref="FreeText"/>: an outcome, a summary, a message, a reason, evidence, a plan, before and after, who, a change's description, why a rollback was disarmed) passes
/// through <see cref="Stored"/>: this is the store's one boundary where known secrets are redacted, whatever the text
/// came from (an adapter's error, a service's answer, a person's reason). Identities (a policy's name, labels, keys,
/// targets, states, times) are stored as given: redacting them would change what is read back (a policy "latest" with
/// an API token "test" would come back as "la[REDACTED]", no longer loaded, and its approved rollback would not run).
/// </summary>
internal static class SqliteCommands
{
    /// <summary>Text as it may be stored: known secrets replaced by <see cref="SecretRegistry.Marker"/>.</summary>
    public static object? Stored(object? value) => value is string text ? SecretRegistry.Shared.Redact(text) : value;

    /// <summary>The parameters that carry free text (redacted); every other one is an identity, stored as given.</summary>
    internal static readonly FrozenSet<string> FreeText = FrozenSet.ToFrozenSet(
        ["$outcome", "$summary", "$message", "$reason", "$evidence", "$plan", "$before", "$after", "$by", "$description", "$disarmedReason"],
        StringComparer.Ordinal);

    /// <summary>
    /// A command for <paramref name="sql"/> in <paramref name="transaction"/> with <paramref name="parameters"/> bound:
    /// on a <see cref="PreparedConnection"/> the one kept for that text (its statements prepared already), elsewhere a
    /// new one. Dispose the use, never the command: a kept command goes back unbound, any other is disposed.
    /// </summary>
    public static CommandUse Command(this SqliteTransaction transaction, string sql, params ReadOnlySpan<(string Name, object? Value)> parameters)
    {
        var connection = transaction.Connection!;
        var kept = connection as PreparedConnection;
        SqliteCommand command;
        if (kept is not null)
        {
            command = kept.Take(sql);
        }
        else
        {
            command = connection.CreateCommand();
            command.CommandText = sql;
        }

        try
        {
            command.Transaction = transaction;
            foreach (var (name, value) in parameters)
            {
                command.Parameters.AddWithValue(name, (FreeText.Contains(name) ? Stored(value) : value) ?? DBNull.Value);
            }
        }
        catch
        {
            new CommandUse(command, kept).Dispose();
            throw;
        }

        return new CommandUse(command, kept);
    }

    public static async Task<int> ExecuteAsync(this SqliteTransaction transaction, string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        using var use = transaction.Command(sql, parameters);
        return await use.Command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public static async Task<object?> ScalarAsync(this SqliteTransaction transaction, string sql, CancellationToken cancellationToken, params (string Name, object? Value)[] parameters)
    {
        using var use = transaction.Command(sql, parameters);
        var value = await use.Command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return value is DBNull ? null : value;
    }

    public static string? GetNullableString(this SqliteDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    public static async Task<List<T>> QueryAsync<T>(
        this SqliteTransaction transaction,
        string sql,
        Func<SqliteDataReader, T> read,
        CancellationToken cancellationToken,
        params (string Name, object? Value)[] parameters)
    {
        using var use = transaction.Command(sql, parameters);
        using var reader = await use.Command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var rows = new List<T>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            rows.Add(read(reader));
        }

        return rows;
    }

    public static DateTimeOffset? GetNullableTime(this SqliteDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : DbTime.Parse(reader.GetString(ordinal));
}

/// <summary>One use of a command from <see cref="SqliteCommands.Command"/>: disposing it returns a kept command to its connection, or disposes a one-off.</summary>
internal readonly struct CommandUse(SqliteCommand command, PreparedConnection? keptBy) : IDisposable
{
    public SqliteCommand Command => command;

    public void Dispose()
    {
        if (keptBy is not null)
        {
            keptBy.Return(command);
        }
        else
        {
            command.Dispose();
        }
    }
}
