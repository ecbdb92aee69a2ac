using Microsoft.Data.Sqlite;

namespace RollbackSentinel.Storage.Sqlite;

/// <summary>
/// A connection that keeps one command per SQL text while it is open, so SQLite parses each statement once rather
/// than at every use (Microsoft.Data.Sqlite keeps a command's prepared statements until its text changes or it is
/// disposed). The store's write connection: one writer at a time uses it, through <see cref="SqliteCommands"/>.
/// </summary>
internal sealed class PreparedConnection(string connectionString) : SqliteConnection(connectionString)
{
    /// <summary>SQL texts kept at most; the write path has a few dozen, so this only bounds a mistake.</summary>
    internal const int Capacity = 128;

    private readonly Dictionary<string, SqliteCommand> _idle = new(StringComparer.Ordinal);

    /// <summary>When the file this connection opened was created, as read when it was opened (the store reopens on a change).</summary>
    public DateTime? FileBirth { get; set; }

    /// <summary>Commands created so far: each prepares its statements once, at its first use.</summary>
    public int Prepared { get; private set; }

    /// <summary>The commands kept and not in use; for tests.</summary>
    internal IEnumerable<SqliteCommand> Idle => _idle.Values;

    /// <summary>The idle command kept for <paramref name="sql"/>, or a new one; give it back with <see cref="Return"/>.</summary>
    internal SqliteCommand Take(string sql)
    {
        if (_idle.Remove(sql, out var command))
        {
            return command;
        }

        command = CreateCommand();
        command.CommandText = sql;
        Prepared++;
        return command;
    }

    /// <summary>Unbinds <paramref name="command"/> (no transaction, no parameters) and keeps it, unless one is kept for its text already or the cache is full.</summary>
    internal void Return(SqliteCommand command)
    {
        if (_idle.TryGetValue(command.CommandText, out var kept) && ReferenceEquals(kept, command))
        {
            return; // given back already (a use disposed twice)
        }

        command.Transaction = null;
        command.Parameters.Clear();
        if (_idle.Count >= Capacity || !_idle.TryAdd(command.CommandText, command))
        {
            command.Dispose();
        }
    }

    /// <summary>Closing disposes every command of the connection (Microsoft.Data.Sqlite does), so none is kept past it.</summary>
    public override void Close()
    {
        _idle.Clear();
        base.Close();
    }
}
