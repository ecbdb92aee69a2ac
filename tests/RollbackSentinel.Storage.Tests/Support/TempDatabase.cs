using Microsoft.Data.Sqlite;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Testing.Time;

namespace RollbackSentinel.Storage.Tests.Support;

/// <summary>A database file in a fresh temporary folder, deleted with every store opened on it.</summary>
public sealed class TempDatabase : IAsyncLifetime
{
    private readonly List<SqliteIncidentStore> _stores = [];

    public TempDatabase()
    {
        Folder = Path.Combine(Path.GetTempPath(), "rollback-sentinel-storage-tests", Guid.NewGuid().ToString("N"));
        FilePath = Path.Combine(Folder, "data", "sentinel.db");
    }

    public string Folder { get; }

    /// <summary>In a sub-folder that does not exist yet: the store creates it.</summary>
    public string FilePath { get; }

    public ManualTimeProvider Clock { get; } = new(Samples.T0);

    /// <summary>A new store instance on the file, initialized; disposed with the fixture unless disposed before.</summary>
    public async Task<SqliteIncidentStore> OpenStoreAsync()
    {
        var store = new SqliteIncidentStore(FilePath, Clock);
        _stores.Add(store);
        await store.InitializeAsync(CancellationToken.None);
        return store;
    }

    /// <summary>The incident writes (rules in Core) over <paramref name="store"/>, as the daemon makes them: its changes in the same store, this fixture's clock.</summary>
    public IncidentService Incidents(SqliteIncidentStore store) => new(store, store, Clock, "test-node");

    /// <summary>A plain connection, outside any store, to look at (or tamper with) what is on disk.</summary>
    public SqliteConnection OpenRaw()
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = FilePath, Pooling = false }.ConnectionString);
        connection.Open();
        return connection;
    }

    public T Scalar<T>(string sql)
    {
        using var connection = OpenRaw();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (T)command.ExecuteScalar()!;
    }

    public void Execute(string sql)
    {
        using var connection = OpenRaw();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public List<string[]> Rows(string sql)
    {
        using var connection = OpenRaw();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var rows = new List<string[]>();
        while (reader.Read())
        {
            rows.Add(Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? "NULL" : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture)!).ToArray());
        }

        return rows;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync();
        }

        if (Directory.Exists(Folder))
        {
            Directory.Delete(Folder, recursive: true);
        }
    }
}
