using System.Data.Common;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Quartz;
using RollbackSentinel.Hosting;
using RollbackSentinel.Storage.Postgres;

namespace RollbackSentinel.Daemon;

/// <summary>
/// Where the policy schedules live. On SQLite (one daemon per store) Quartz keeps them in memory, as it always did. On
/// PostgreSQL every sentinel sharing the database is a node of one Quartz cluster: the jobs and triggers are rows in
/// <c>quartz.qrtz_*</c> (migration 2), each firing is claimed by exactly one node (a policy's job allows concurrent
/// execution there, so its rounds take no cluster-wide lock: <see cref="PolicyJob"/>), and the triggers of a node that stops
/// checking in are taken over by the others (docs/ha.md).
/// </summary>
internal static class ClusteredScheduling
{
    /// <summary>The scheduler name every node shares (Quartz's <c>SCHED_NAME</c>): the nodes of one cluster are the schedulers of this name in one database.</summary>
    public const string SchedulerName = "RollbackSentinel";

    /// <summary>Quartz's tables, in their own schema (migration 2, <c>PostgresQuartzSchema</c>).</summary>
    public const string TablePrefix = "quartz.qrtz_";

    /// <summary>
    /// How long a node waits before it tries the database again after a failure that was not transient (the database is
    /// down): short, so a restarted PostgreSQL is picked up within seconds (Quartz's default is 15 s).
    /// </summary>
    public static readonly TimeSpan DbRetryInterval = TimeSpan.FromSeconds(2);

    /// <summary>The key Quartz's connection pool is registered under; it is not the store's pool.</summary>
    private const string DataSourceKey = "rollback-sentinel-quartz";

    /// <summary>
    /// Registers Quartz with <paramref name="maxConcurrency"/> evaluations at once: in memory on SQLite, clustered on
    /// PostgreSQL (<see cref="SentinelOptions.Storage"/> <c>UsesPostgres</c>), as node <c>node.id</c> checking in every
    /// <c>cluster.checkinInterval</c>.
    /// </summary>
    public static IServiceCollection AddPolicyScheduling(this IServiceCollection services, SentinelOptions options, int maxConcurrency)
    {
        services.AddSingleton<ForeignPolicyRuns>();
        services.AddSingleton<OrphanedJobs>();
        // A clustered node runs fewer evaluations at once: every run takes a connection from Quartz's pool (its lock
        // rounds), which must stay larger than the threads so the cluster check-in never waits for one.
        var threads = options.Storage.UsesPostgres ? Math.Min(maxConcurrency, ClusteredMaxConcurrency) : maxConcurrency;
        services.AddQuartz(q =>
        {
            q.UseDefaultThreadPool(pool => pool.MaxConcurrency = threads);

            // One round takes every trigger due at once, up to the pool: policies of one phase (PolicyScheduler.Jitter) share
            // a fire time, and one a round (Quartz's in-memory default; its persistent default is this) the last of a phase
            // waited for the scheduler thread to fire all before it; on a cluster a round is also one lock and one commit.
            // Not beyond the pool: a trigger no thread can run yet would wait here while another node is idle. No fire-ahead
            // window: a slot fired early would be evaluated at "now" instead of at its slot.
            q.ConfigureScheduler(s => s.MaxBatchSize = threads);

            // The job by type, not by name: the clustered store reads "RollbackSentinel.Daemon.PolicyJob, RollbackSentinel"
            // back from PostgreSQL, and the Native AOT executable resolves no type name by reflection (docs/aot.md).
            // One instance for every firing (PolicyJobFactory), not a scope and a new job per firing.
            q.AddJobType<PolicyJob>(ServiceLifetime.Singleton);
            q.UseJobFactory<PolicyJobFactory>();
            if (options.Storage.UsesPostgres)
            {
                q.UseClusteredStore(options.Node.Id, options.CheckinIntervalValue, () => options.ResolvePostgresConnectionString()!);
            }
        });
        return services;
    }

    /// <summary>
    /// Makes this scheduler node <paramref name="nodeId"/> of the cluster on the PostgreSQL database
    /// <paramref name="connectionString"/> returns (read once, when Quartz first connects).
    /// </summary>
    /// <remarks>
    /// Quartz is given a connection pool, not the connection string, so nothing of Quartz's (a log line, an error, its
    /// health check) ever holds the password. A node is declared dead once it has missed its check-in by
    /// <paramref name="checkinInterval"/> (the misfire threshold, equal to the interval); the first node to check in after
    /// that recovers its triggers, so its policies run elsewhere within 3 × the interval.
    /// </remarks>
    public static IQuartzBuilder UseClusteredStore(this IQuartzBuilder q, string nodeId, TimeSpan checkinInterval, Func<string> connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nodeId);
        q.Services.AddKeyedSingleton<DbDataSource>(DataSourceKey, (_, _) => CreateDataSource(connectionString(), checkinInterval));
        q.ConfigureScheduler(s =>
        {
            s.InstanceName = SchedulerName;
            s.InstanceId = nodeId;
        });
        q.UsePersistentStore(store =>
        {
            store.UsePostgres(ds => ds.DataSourceServiceKey = DataSourceKey);
            store.UseSystemTextJsonSerializer();
            store.ConfigureStore(s =>
            {
                s.TablePrefix = TablePrefix;

                // Job data as name/value strings (the policy name and its schedule text): readable in the table, and
                // nothing a node of another version cannot read back.
                s.StoreJobDataAsStrings = true;
                s.DbRetryInterval = DbRetryInterval;

                // Quartz's default, stated: a firing round whose jobs all allow concurrent execution claims its triggers
                // by compare-and-swap and completes them without the TRIGGER_ACCESS lock row (policy jobs do: PolicyJob).
                s.LockFreeFiringRounds = true;
            });
            store.UseClustering(c =>
            {
                c.CheckinInterval = checkinInterval;
                c.CheckinMisfireThreshold = checkinInterval;
            });
        });
        return q;
    }

    /// <summary>
    /// Evaluations a clustered node runs at once (a single daemon runs up to 64): Quartz's cluster work is serialised on
    /// one lock row, so more threads only queue there, each holding a connection.
    /// </summary>
    public const int ClusteredMaxConcurrency = 12;

    /// <summary>
    /// Connections in Quartz's pool on each node unless the connection string sets <c>Maximum Pool Size</c> (Npgsql's
    /// default is 100 per pool): its threads plus three (Quartz's own advice: the scheduler thread, the cluster manager
    /// and the misfire handler need one each), so the check-in never waits behind evaluations queued on the lock row
    /// (a bench with 8 saw a live node declared dead that way). 15 per node plus the store's 16 keep three nodes at 93
    /// of PostgreSQL's default <c>max_connections</c> (100, 3 reserved). A connection string that sets
    /// <c>Maximum Pool Size</c> sets it for both pools: keep it at least <see cref="ClusteredMaxConcurrency"/> + 3.
    /// </summary>
    public const int DefaultMaxPoolSize = ClusteredMaxConcurrency + 3;

    /// <summary>
    /// Quartz's pool (at most <see cref="DefaultMaxPoolSize"/> connections unless the connection string sets
    /// <c>Maximum Pool Size</c>). Its sessions run with <c>synchronous_commit=off</c>: Quartz's trigger bookkeeping
    /// commits without waiting for the WAL flush, so each lock round holds the lock row for less time. A PostgreSQL crash
    /// (not a node's) may lose the last fraction of a second of trigger state: a slot is run again or skipped. The store,
    /// which decides actions and fences them, keeps synchronous commits. A transaction left open by a node that froze (SIGSTOP, a VM paused) while holding Quartz's cluster
    /// lock row would stall every node behind it for as long as the freeze lasts, so the server ends such a session after
    /// one check-in interval (<c>idle_in_transaction_session_timeout</c>): the lock is released and the frozen node, when
    /// it wakes, finds its transaction gone. Quartz's own transactions last milliseconds.
    /// </summary>
    internal static NpgsqlDataSource CreateDataSource(string connectionString, TimeSpan checkinInterval)
    {
        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(connectionString) { PersistSecurityInfo = false };
        }
        catch (ArgumentException)
        {
            // Npgsql's message may quote the offending part of the string, which can be the password.
            throw new ArgumentException("The PostgreSQL connection string cannot be parsed (it is not repeated here: it may hold a password).", nameof(connectionString));
        }

        var idle = (long)Math.Max(1000, checkinInterval.TotalMilliseconds);
        var setting = string.Create(CultureInfo.InvariantCulture, $"-c idle_in_transaction_session_timeout={idle} -c synchronous_commit=off");
        // Npgsql reads PGOPTIONS only when the string sets no Options: kept, as a connection of the store's would keep it.
        var given = builder.Options ?? Environment.GetEnvironmentVariable("PGOPTIONS");
        builder.Options = string.IsNullOrWhiteSpace(given) ? setting : $"{given} {setting}";
        if (!PostgresStore.SetsMaxPoolSize(connectionString))
        {
            builder.MaxPoolSize = DefaultMaxPoolSize;
        }

        // Quartz runs a few dozen fixed statements per slot, as the store does: prepared on each connection after 5 runs.
        // Some of them read SELECT *: a migration that changed a Quartz table's columns under running nodes would fail each
        // such statement once on each connection (PostgreSQL's "cached plan must not change result type"; Npgsql then drops
        // the prepared statement and Quartz retries the operation).
        if (!PostgresStore.Sets(connectionString, "MaxAutoPrepare"))
        {
            builder.MaxAutoPrepare = PostgresStore.DefaultMaxAutoPrepare;
        }

        return NpgsqlDataSource.Create(builder);
    }
}
