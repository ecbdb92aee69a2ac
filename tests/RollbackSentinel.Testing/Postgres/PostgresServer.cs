using System.Diagnostics;
using Npgsql;
using RollbackSentinel.Testing.Net;
using RollbackSentinel.Testing.Prometheus;

namespace RollbackSentinel.Testing.Postgres;

/// <summary>
/// A real PostgreSQL 15 (Debian <c>postgresql</c>) on a free loopback port: <c>initdb</c> and <c>pg_ctl start</c> in a
/// temporary folder, run as the unprivileged <c>postgres</c> user when the tests run as root (PostgreSQL refuses to run
/// as root). Trust authentication on loopback and the folder's own unix socket only, except for logins made by
/// <see cref="CreateDatabaseWithLoginAsync"/>, which must give their password. <see cref="StopAsync"/> and
/// <see cref="StartAsync()"/> restart it (same port, same data). Disposing stops it with <c>pg_ctl stop -m immediate</c>
/// and deletes the folder, also after a failed start.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    private const int MaxStartAttempts = 5;
    private const string SuperUser = "postgres";
    private const string ServiceUser = "postgres";

    /// <summary>The role whose members log in with a password (scram-sha-256) even over loopback; everyone else is trusted.</summary>
    private const string PasswordLogins = "password_logins";
    private static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(20);

    private readonly DirectoryInfo _root;
    private readonly string _bin;
    private readonly BoundedLog _log = new();
    private readonly SemaphoreSlim _control = new(1, 1);
    private int _databases;
    private int _logins;
    private int _disposed;
    private bool _started;

    private PostgresServer(DirectoryInfo root, string bin)
    {
        _root = root;
        _bin = bin;
        DataDirectory = Path.Combine(root.FullName, "data");
        SocketDirectory = Path.Combine(root.FullName, "run");
    }

    /// <summary>The loopback port the server listens on.</summary>
    public int Port { get; private set; }

    /// <summary>The cluster directory; removed on dispose.</summary>
    public string DataDirectory { get; }

    /// <summary>Where the server's unix socket lives (inside the temporary folder, not /var/run/postgresql).</summary>
    public string SocketDirectory { get; }

    /// <summary>The last lines the PostgreSQL tools and server logged, for diagnosing a failing test.</summary>
    public string RecentLog => _log.ToString();

    private string LogFile => Path.Combine(_root.FullName, "postgres.log");

    /// <summary>A connection string for <paramref name="database"/> as the superuser over loopback TCP (no password: trust).</summary>
    public string ConnectionString(string database = "postgres") => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = SuperUser,
        Database = database,

        // Each test database is dropped at the end; pooled connections would keep it busy.
        Pooling = false,
    }.ConnectionString;

    public static async Task<PostgresServer> StartAsync(CancellationToken cancellationToken)
    {
        var bin = FindBinDirectory();
        var server = new PostgresServer(Directory.CreateTempSubdirectory("rollbacksentinel-postgres-"), bin);
        try
        {
            await server.StartCoreAsync(cancellationToken);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Creates an empty database with a unique name and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(CancellationToken cancellationToken)
    {
        var name = $"test_{Environment.ProcessId}_{Interlocked.Increment(ref _databases)}";
        await ExecuteAsync($"CREATE DATABASE \"{name}\"", cancellationToken);
        return ConnectionString(name);
    }

    /// <summary>Drops a database made by <see cref="CreateDatabaseAsync"/>, closing what still uses it.</summary>
    public async Task DropDatabaseAsync(string connectionString, CancellationToken cancellationToken)
    {
        var name = new NpgsqlConnectionStringBuilder(connectionString).Database
            ?? throw new ArgumentException("The connection string names no database.", nameof(connectionString));
        await ExecuteAsync($"DROP DATABASE IF EXISTS \"{name.Replace("\"", "\"\"", StringComparison.Ordinal)}\" WITH (FORCE)", cancellationToken);
    }

    /// <summary>
    /// Creates an empty database owned by a new login that must give <paramref name="password"/> (scram-sha-256; a wrong
    /// one is refused) and returns a connection string as that login, password included. Drop it with <see cref="DropDatabaseAsync"/>.
    /// </summary>
    public async Task<string> CreateDatabaseWithLoginAsync(string password, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(password);
        var login = $"login_{Environment.ProcessId}_{Interlocked.Increment(ref _logins)}";
        var literal = "'" + password.Replace("'", "''", StringComparison.Ordinal) + "'";
        await ExecuteAsync($"CREATE ROLE \"{login}\" LOGIN PASSWORD {literal} IN ROLE {PasswordLogins}", cancellationToken);
        var name = $"test_{Environment.ProcessId}_{Interlocked.Increment(ref _databases)}";
        await ExecuteAsync($"CREATE DATABASE \"{name}\" OWNER \"{login}\"", cancellationToken);
        return new NpgsqlConnectionStringBuilder(ConnectionString(name)) { Username = login, Password = password }.ConnectionString;
    }

    /// <summary>
    /// Stops the server as an operator's restart does (<c>pg_ctl stop -m fast</c>: every client connection is closed,
    /// open transactions are rolled back), keeping its data and port for <see cref="StartAsync()"/>. Does nothing if it is stopped.
    /// </summary>
    public async Task StopAsync()
    {
        await _control.WaitAsync();
        try
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            await StopCoreAsync("fast");
        }
        finally
        {
            _control.Release();
        }
    }

    /// <summary>Starts the server stopped by <see cref="StopAsync"/> again, on the same port with the same data. Does nothing if it runs.</summary>
    /// <exception cref="InvalidOperationException">It could not start (e.g. another process took the port meanwhile); its log is in the message.</exception>
    public async Task StartAsync()
    {
        await _control.WaitAsync();
        try
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            if (_started)
            {
                return;
            }

            using var budget = new CancellationTokenSource(ToolTimeout);
            var exitCode = await PgCtlStartAsync(Port, budget.Token);
            if (exitCode != 0)
            {
                throw new InvalidOperationException(
                    $"PostgreSQL did not start again on 127.0.0.1:{Port} (pg_ctl exit code {exitCode}). Its last output:" + Environment.NewLine + await ServerLogTailAsync(budget.Token));
            }

            _started = true;
        }
        finally
        {
            _control.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _control.WaitAsync();
        try
        {
            await StopCoreAsync("immediate");
            await ServerProcesses.DeleteDirectoryAsync(_root);
        }
        finally
        {
            _control.Release();
        }
    }

    private async Task ExecuteAsync(string sql, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(ConnectionString());
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private async Task StartCoreAsync(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(SocketDirectory);
        if (RunsAsRoot)
        {
            // initdb and postgres refuse to run as root; the cluster belongs to the service user.
            await RunAsync("chown", ["-R", $"{ServiceUser}:", _root.FullName], asServiceUser: false, cancellationToken);
        }

        await RunAsync(
            Path.Combine(_bin, "initdb"),
            ["-D", DataDirectory, "-U", SuperUser, "--auth-local=trust", "--auth-host=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"],
            asServiceUser: true,
            cancellationToken);

        // Trust on the folder's socket and on loopback only: nothing else may connect, even if it could reach the port.
        // Members of password_logins must give their password (the first matching line wins).
        await File.WriteAllTextAsync(
            Path.Combine(DataDirectory, "pg_hba.conf"),
            $"local all all trust\nhost all +{PasswordLogins} 127.0.0.1/32 scram-sha-256\nhost all all 127.0.0.1/32 trust\n",
            cancellationToken);

        for (var attempt = 1; ; attempt++)
        {
            var port = FreePort.Next();
            var exitCode = await PgCtlStartAsync(port, cancellationToken);
            if (exitCode == 0)
            {
                Port = port;
                _started = true;
                await ExecuteAsync($"CREATE ROLE {PasswordLogins} NOLOGIN", cancellationToken);
                return;
            }

            var serverLog = File.Exists(LogFile) ? await File.ReadAllTextAsync(LogFile, cancellationToken) : string.Empty;
            foreach (var line in serverLog.Split('\n').TakeLast(20))
            {
                _log.Add(line);
            }

            var portTaken = serverLog.Contains("could not bind", StringComparison.OrdinalIgnoreCase)
                || serverLog.Contains("already in use", StringComparison.OrdinalIgnoreCase);
            if (!portTaken || attempt == MaxStartAttempts)
            {
                throw new InvalidOperationException(
                    $"PostgreSQL did not start on 127.0.0.1:{port} (attempt {attempt}, pg_ctl exit code {exitCode}). Its last output:"
                    + Environment.NewLine + _log);
            }

            File.Delete(LogFile);
        }
    }

    private Task<int> PgCtlStartAsync(int port, CancellationToken cancellationToken)
    {
        _log.Add($"--- starting postgres on 127.0.0.1:{port}");
        return RunAsync(
            Path.Combine(_bin, "pg_ctl"),
            [
                "start", "-w", "-t", "60", "-D", DataDirectory, "-l", LogFile,
                "-o", $"-p {port} -k {SocketDirectory} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c synchronous_commit=off",
            ],
            asServiceUser: true,
            cancellationToken,
            throwOnFailure: false);
    }

    private async Task<string> ServerLogTailAsync(CancellationToken cancellationToken)
    {
        var serverLog = File.Exists(LogFile) ? await File.ReadAllTextAsync(LogFile, cancellationToken) : string.Empty;
        foreach (var line in serverLog.Split('\n').TakeLast(20))
        {
            _log.Add(line);
        }

        return _log.ToString();
    }

    /// <summary>pg_ctl stop in <paramref name="mode"/> (fast: a clean shutdown; immediate: as if it crashed), or kill the postmaster.</summary>
    private async Task StopCoreAsync(string mode)
    {
        if (!_started)
        {
            return;
        }

        _started = false;
        using var timeout = new CancellationTokenSource(StopTimeout);
        try
        {
            var exitCode = await RunAsync(
                Path.Combine(_bin, "pg_ctl"), ["stop", "-m", mode, "-w", "-D", DataDirectory], asServiceUser: true, timeout.Token, throwOnFailure: false);
            if (exitCode == 0)
            {
                return;
            }
        }
        catch (OperationCanceledException)
        {
            _log.Add("--- pg_ctl stop timed out");
        }

        KillPostmaster();
    }

    /// <summary>Last resort when pg_ctl could not stop it: the postmaster's pid is the first line of postmaster.pid.</summary>
    private void KillPostmaster()
    {
        var pidFile = Path.Combine(DataDirectory, "postmaster.pid");
        if (!File.Exists(pidFile) || !int.TryParse(File.ReadLines(pidFile).FirstOrDefault(), out var pid))
        {
            return;
        }

        try
        {
            using var postmaster = Process.GetProcessById(pid);
            postmaster.Kill(entireProcessTree: true);
            postmaster.WaitForExit(StopTimeout);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException)
        {
            // Already gone.
        }
    }

    private async Task<int> RunAsync(
        string tool, IReadOnlyList<string> arguments, bool asServiceUser, CancellationToken cancellationToken, bool throwOnFailure = true)
    {
        var info = new ProcessStartInfo
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _root.FullName,
        };
        if (asServiceUser && RunsAsRoot)
        {
            info.FileName = "runuser";
            foreach (var argument in (string[])["-u", ServiceUser, "--", tool])
            {
                info.ArgumentList.Add(argument);
            }
        }
        else
        {
            info.FileName = tool;
        }

        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var (exitCode, output) = await ServerProcesses.RunToExitAsync(info, ToolTimeout, cancellationToken);
        _log.Add($"--- {Path.GetFileName(tool)} exited with code {exitCode}: {output}");
        if (throwOnFailure && exitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(tool)} failed (exit code {exitCode}): {output}");
        }

        return exitCode;
    }

    private static bool RunsAsRoot => Environment.UserName == "root";

    private static string FindBinDirectory()
    {
        const string Debian = "/usr/lib/postgresql/15/bin";
        if (File.Exists(Path.Combine(Debian, "pg_ctl")))
        {
            return Debian;
        }

        throw new InvalidOperationException(
            $"PostgreSQL 15 was not found in {Debian}. These tests need a real PostgreSQL: install the Debian package "
            + "'postgresql' (apt-get install -y postgresql), which provides initdb and pg_ctl.");
    }
}
