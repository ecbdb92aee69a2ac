using Npgsql;
using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Metrics;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.Secrets;
using RollbackSentinel.Core.State;
using RollbackSentinel.Storage.Postgres;
using RollbackSentinel.Testing.Postgres;

namespace RollbackSentinel.Storage.Tests.Postgres;

/// <summary>
/// What every evaluation writes, the policy state and its verdicts, goes to PostgreSQL as one statement (the state's
/// write in a data-modifying <c>WITH</c>, the verdicts inserted only if it wrote), on its own when no incident moves.
/// Read back here from the tables themselves: the columns, and that a refused state takes its verdicts with it.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresEvaluationWriteTests(PostgresFixture postgres) : FreshDatabaseTests(postgres)
{
    private const string Policy = "checkout-api";
    private static readonly DateTimeOffset T0 = new(2026, 11, 20, 14, 30, 0, TimeSpan.Zero);
    private static readonly LabelSet Cart = LabelSet.Of(("deployment", "cart"));

    // Unique per run: the registry is process-wide.
    private readonly string _secret = "Sl4ckT0ken" + Guid.NewGuid().ToString("N");
    [Fact]
    public async Task StateAndVerdicts_WrittenTogether_EveryColumnAsGiven()
    {
        SecretRegistry.Shared.Register(_secret);
        var verdicts = new[]
        {
            new EvaluationRow("error-rate", Cart, VerdictKind.Breach, VerdictReason.ThresholdExceeded, 0.09, 0.05, null, $"error ratio 0.09 > max 0.05 (token {_secret})"),
            new EvaluationRow("latency", LabelSet.Empty, VerdictKind.Inconclusive, VerdictReason.NotANumber, double.NaN, 0.5, double.PositiveInfinity, "NaN"),
        };

        await Store.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, PolicyState.Empty, T0, 0), verdicts, []) { Policy = Policy, At = T0 }, None);

        Assert.Equal(1, await Store.LoadStateVersionAsync(Policy, None));
        var rows = await RowsAsync();
        Assert.Equal(2, rows.Count);
        Assert.Equal(
            (Policy, T0, "error-rate", "{\"deployment\":\"cart\"}", "Breach", "ThresholdExceeded", (double?)0.09, (double?)0.05, (double?)null, $"error ratio 0.09 > max 0.05 (token {SecretRegistry.Marker})"),
            rows[0]);
        Assert.Equal((Policy, T0, "latency", "{}", "Inconclusive", "NotANumber", (double?)null, (double?)0.5, (double?)double.PositiveInfinity, "NaN"), rows[1]);
    }

    [Fact]
    public async Task StaleState_WithVerdicts_RefusesBoth_AndNamesTheStoredVersion()
    {
        await Store.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, PolicyState.Empty, T0, 0), [Row("first")], []) { Policy = Policy, At = T0 }, None);
        await Store.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, PolicyState.Empty, T0.AddSeconds(15), 1), [Row("second")], []) { Policy = Policy, At = T0.AddSeconds(15) }, None);

        // A writer still holding version 1 (another node committed version 2 meanwhile).
        var error = await Assert.ThrowsAsync<PolicyStateConflictException>(() => Store.ApplyAsync(
            new StoreBatch(new PolicyStateWrite(Policy, PolicyState.Empty, T0.AddSeconds(30), 1), [Row("stale")], []) { Policy = Policy, At = T0.AddSeconds(30) },
            None));

        Assert.Contains("is at version 2, not 1", error.Message, StringComparison.Ordinal);
        Assert.Equal(2, await Store.LoadStateVersionAsync(Policy, None));
        Assert.Equal(["first", "second"], (await RowsAsync()).Select(r => r.Summary));
    }

    [Fact]
    public async Task FirstState_AlreadyStoredByAnother_RefusesItsVerdicts()
    {
        await Store.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, PolicyState.Empty, T0, 0), [], []), None);

        var error = await Assert.ThrowsAsync<PolicyStateConflictException>(() => Store.ApplyAsync(
            new StoreBatch(new PolicyStateWrite(Policy, PolicyState.Empty, T0, 0), [Row("late")], []) { Policy = Policy, At = T0 },
            None));

        Assert.Contains("is at version 1, not 0", error.Message, StringComparison.Ordinal);
        Assert.Empty(await RowsAsync());
    }

    [Fact]
    public async Task UncheckedState_WithVerdicts_AlwaysWrites()
    {
        await Store.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, PolicyState.Empty, T0, null), [Row("one")], []) { Policy = Policy, At = T0 }, None);
        await Store.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, PolicyState.Empty, T0.AddSeconds(15), null), [Row("two")], []) { Policy = Policy, At = T0.AddSeconds(15) }, None);

        Assert.Equal(2, await Store.LoadStateVersionAsync(Policy, None));
        Assert.Equal(["one", "two"], (await RowsAsync()).Select(r => r.Summary));
    }

    [Fact]
    public async Task StaleState_InABatchThatOpensAnIncident_RefusesTheIncidentToo()
    {
        await Store.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, PolicyState.Empty, T0, 0), [], []), None);
        var opening = new IncidentUpdate(0, 0, [new OpenIncident(
            new Incident
            {
                Policy = Policy,
                Trigger = "error-rate",
                Labels = Cart,
                Action = TriggerAction.Rollback,
                Status = IncidentStatus.Open,
                OpenedAt = T0,
                UpdatedAt = T0,
                Summary = "error ratio 0.09 > max 0.05",
                EvidenceJson = """{"verdict":"Breach","queries":[]}""",
            },
            "k1",
            new ActionRecord { IncidentId = 0, Kind = "rollback", Target = "kubectl/checkout/shop", IdempotencyKey = "rs-k1", Status = ActionStatus.Pending, CreatedAt = T0 },
            null)]);

        await Assert.ThrowsAsync<PolicyStateConflictException>(() => Store.ApplyAsync(
            new StoreBatch(new PolicyStateWrite(Policy, PolicyState.Empty, T0, 0), [Row("with incident")], [opening]) { Policy = Policy, At = T0 },
            None));

        Assert.Empty(await RowsAsync());
        Assert.Empty(await Store.ListIncidentsAsync(null, 10, None));
    }

    [Fact]
    public async Task StaleState_AWriterCommitsWhileTheWriteWaitsForTheRow_RefusedNamingTheNewVersion()
    {
        await Store.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, PolicyState.Empty, T0, 0), [], []), None);

        var error = await RaceAsync(Store);

        Assert.Contains("is at version 2, not 1", error.Message, StringComparison.Ordinal);
        Assert.Equal(2, await Store.LoadStateVersionAsync(Policy, None));
        Assert.Empty(await RowsAsync());
    }

    [Fact]
    public async Task StaleState_DatabaseDefaultsToSerializable_TheSerializationErrorIsTheSameConflict()
    {
        var database = new NpgsqlConnectionStringBuilder(ConnectionString).Database;
        await ExecuteAsync($"ALTER DATABASE \"{database}\" SET default_transaction_isolation = 'serializable'");
        await Store.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, PolicyState.Empty, T0, 0), [], []), None);

        var error = await RaceAsync(Store);

        Assert.Contains("is at version 2, not 1", error.Message, StringComparison.Ordinal);
        Assert.Empty(await RowsAsync());
    }

    [Fact]
    public async Task RerunAfterABrokenConnection_TheFirstAttemptWasApplied_IsNotAConflict_ButAnotherWritersStateIs()
    {
        // A lone write whose answer was lost with its connection is sent again; if the first one was applied, the stored
        // row is exactly what it wrote, at its version, and the rerun must not report it as another writer's.
        await Store.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, PolicyState.Empty, T0, 0), [], []), None);
        var mine = new PolicyStateWrite(Policy, PolicyState.Empty with { LastEvaluatedAt = T0.AddSeconds(15) }, T0.AddSeconds(15), 1);
        var json = Storage.Serialization.PolicyStateJson.Serialize(mine.State);
        await Store.ApplyAsync(new StoreBatch(mine, [Row("mine")], []) { Policy = Policy, At = mine.At }, None);

        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync(None);
        await PostgresIncidentStore.WriteStateAndVerdictsAsync(connection, null, mine, json, Policy, mine.At, [Row("mine")], rerun: true, None);
        await Assert.ThrowsAsync<PolicyStateConflictException>(() =>
            PostgresIncidentStore.WriteStateAndVerdictsAsync(connection, null, mine, json, Policy, mine.At, [Row("mine")], rerun: false, None));

        // Another state at that version (another writer's), or a later one: still refused on a rerun.
        var other = mine with { State = PolicyState.Empty };
        await Assert.ThrowsAsync<PolicyStateConflictException>(() =>
            PostgresIncidentStore.WriteStateAndVerdictsAsync(connection, null, other, Storage.Serialization.PolicyStateJson.Serialize(other.State), Policy, mine.At, [], rerun: true, None));
        Assert.Equal(2, await Store.LoadStateVersionAsync(Policy, None));
        Assert.Equal(["mine"], (await RowsAsync()).Select(r => r.Summary));
    }

    [Fact]
    public async Task PreparedStatements_AColumnAddedUnderThem_EveryEvaluationStatementStillRuns()
    {
        // One pooled connection, so every statement runs on it past the 5 runs after which Npgsql prepares it. Columns
        // added under prepared statements disturb none of them: they name their columns (none reads SELECT *).
        await using var store = await PooledStoreAsync();
        await EvaluateSlotsAsync(store, 0, 8);

        await ExecuteAsync("ALTER TABLE policy_state ADD COLUMN later text; ALTER TABLE evaluations ADD COLUMN later text; ALTER TABLE changes ADD COLUMN later text");
        await EvaluateSlotsAsync(store, 8, 16);

        Assert.Equal(16, await store.LoadStateVersionAsync(Policy, None));
        Assert.Equal(16, (await RowsAsync()).Count);
    }

    [Fact]
    public async Task PreparedStatements_AreUsed_AResultTypeChangedUnderThemFailsOnce_ThenTheyRunAgain()
    {
        // What docs/ha.md says of a migration that changes the columns a prepared statement returns. That it fails at
        // all shows the statement was prepared (an unprepared one is planned afresh and never fails so).
        await using var store = await PooledStoreAsync();
        await EvaluateSlotsAsync(store, 0, 8);

        await ExecuteAsync("ALTER TABLE policy_state ALTER COLUMN state TYPE varchar");

        var error = await Assert.ThrowsAsync<PostgresException>(() => store.LoadStateUnlessAtAsync(Policy, null, None));
        Assert.Equal(PostgresErrorCodes.FeatureNotSupported, error.SqlState);
        var (stored, state) = await store.LoadStateUnlessAtAsync(Policy, null, None);
        Assert.Equal(8, stored);
        Assert.NotNull(state);
    }

    /// <summary>
    /// Evaluates slots <paramref name="from"/> to <paramref name="to"/> (excluded), 15 s apart from T0, each sending what an
    /// evaluation sends: the state read, the change history, then the state and its verdicts. Slot k finds version k.
    /// </summary>
    private static async Task EvaluateSlotsAsync(IPostgresStore store, int from, int to)
    {
        for (var slot = from; slot < to; slot++)
        {
            await EvaluateOnceAsync(store, T0.AddSeconds(15 * slot), slot);
        }
    }

    private static async Task EvaluateOnceAsync(IPostgresStore store, DateTimeOffset at, long version)
    {
        var (stored, state) = await store.LoadStateUnlessAtAsync(Policy, version == 0 ? null : version - 1, None);
        Assert.Equal(version, stored);
        Assert.Equal(version == 0 ? null : version, state?.Version);
        await store.LoadChangeHistoryAsync(Policy, at.AddHours(-1), None);
        await store.ApplyAsync(new StoreBatch(new PolicyStateWrite(Policy, PolicyState.Empty, at, version), [Row($"at {at:O}")], []) { Policy = Policy, At = at }, None);
    }

    /// <summary>
    /// A writer still at version 1 sends its state while another holds the row, uncommitted at version 2; the other then
    /// commits. Returns what the waiting writer was refused with.
    /// </summary>
    private async Task<PolicyStateConflictException> RaceAsync(IPostgresStore store)
    {
        await using var other = new NpgsqlConnection(ConnectionString);
        await other.OpenAsync(None);
        await using var tx = await other.BeginTransactionAsync(None);
        await using (var bump = new NpgsqlCommand("UPDATE policy_state SET version = version + 1 WHERE policy = @p", other, tx))
        {
            bump.Parameters.AddWithValue("p", Policy);
            Assert.Equal(1, await bump.ExecuteNonQueryAsync(None));
        }

        var stale = store.ApplyAsync(
            new StoreBatch(new PolicyStateWrite(Policy, PolicyState.Empty, T0.AddSeconds(15), 1), [Row("stale")], []) { Policy = Policy, At = T0.AddSeconds(15) },
            None);

        // Until the stale write waits for the row this transaction holds: only then is the race the one meant.
        var waiting = System.Diagnostics.Stopwatch.StartNew();
        while (await BlockedByAsync(other.ProcessID) == 0)
        {
            Assert.False(stale.IsCompleted, $"the stale write ended without waiting for the row: {stale.Exception?.InnerException?.Message ?? "it succeeded"}");
            Assert.True(waiting.Elapsed < TimeSpan.FromSeconds(30), "the stale write never waited for the row");
            await Task.Delay(20);
        }

        await tx.CommitAsync(None);
        return await Assert.ThrowsAsync<PolicyStateConflictException>(() => stale);
    }

    /// <summary>How many sessions wait for a lock the session <paramref name="pid"/> holds.</summary>
    private async Task<long> BlockedByAsync(int pid)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync(None);
        await using var command = new NpgsqlCommand("SELECT count(*) FROM pg_stat_activity WHERE @pid = ANY(pg_blocking_pids(pid))", connection);
        command.Parameters.AddWithValue("pid", pid);
        return (long)(await command.ExecuteScalarAsync(None))!;
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync(None);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(None);
    }

    /// <summary>A second store on the test's database with one pooled connection (the fixture's strings turn pooling off).</summary>
    private async Task<IPostgresStore> PooledStoreAsync()
    {
        var store = PostgresStore.Create(new NpgsqlConnectionStringBuilder(ConnectionString) { Pooling = true, MaxPoolSize = 1 }.ConnectionString, TimeProvider.System);
        await store.InitializeAsync(None);
        return store;
    }

    private static EvaluationRow Row(string summary) => new("error-rate", Cart, VerdictKind.Pass, VerdictReason.WithinThreshold, 0.01, 0.05, null, summary);

    private async Task<List<(string Policy, DateTimeOffset At, string Trigger, string Labels, string Kind, string Reason, double? Value, double? Threshold, double? Baseline, string Summary)>> RowsAsync()
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync(None);
        await using var command = new NpgsqlCommand("SELECT policy, at, trigger, labels, kind, reason, value, threshold, baseline, summary FROM evaluations ORDER BY at, trigger", connection);
        await using var reader = await command.ExecuteReaderAsync(None);
        var rows = new List<(string, DateTimeOffset, string, string, string, string, double?, double?, double?, string)>();
        while (await reader.ReadAsync(None))
        {
            rows.Add((
                reader.GetString(0),
                reader.GetFieldValue<DateTimeOffset>(1),
                reader.GetString(2),
                reader.GetString(3),
                reader.GetString(4),
                reader.GetString(5),
                reader.IsDBNull(6) ? null : reader.GetDouble(6),
                reader.IsDBNull(7) ? null : reader.GetDouble(7),
                reader.IsDBNull(8) ? null : reader.GetDouble(8),
                reader.GetString(9)));
        }

        return rows;
    }
}
