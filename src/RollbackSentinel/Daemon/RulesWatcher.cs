using Microsoft.Extensions.Options;
using RollbackSentinel.Hosting;
using RollbackSentinel.Rules;
using RollbackSentinel.Telemetry;

namespace RollbackSentinel.Daemon;

/// <summary>
/// Keeps the registry in step with the rules folder: file events (debounced) plus a periodic rescan, since
/// Kubernetes ConfigMaps and git-sync swap symlinks without events on the files themselves. A reload that
/// changes nothing costs one parse of the folder.
/// </summary>
internal sealed partial class RulesWatcher(
    IOptions<SentinelOptions> options,
    PolicyRegistry registry,
    PolicyScheduler scheduler,
    SecretFileAccess secretFiles,
    SentinelMetrics metrics,
    TimeProvider time,
    ILogger<RulesWatcher> logger) : BackgroundService
{
    private readonly SemaphoreSlim _reloadGate = new(1, 1);
    private readonly SemaphoreSlim _changed = new(0, int.MaxValue);

    // What was last reported per file, so a broken file is logged and counted once per change, not per rescan.
    private readonly Dictionary<string, string> _reported = new(StringComparer.Ordinal);

    // The last load's parse of each file: a rescan parses only the files whose bytes changed.
    private readonly RuleParseCache _parsed = new();

    // The settings' backends, as the rules are checked against them (the settings do not change while the daemon runs).
    private BackendCatalog? _backends;

    // Whether the rules path was a folder at the first load.
    private bool? _rulesIsFolder;

    /// <summary>Loads the rules once, before the scheduler starts evaluating.</summary>
    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        await _reloadGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var path = options.Value.Rules;
            _rulesIsFolder ??= Directory.Exists(path);
            var rules = _rulesIsFolder == true && File.Exists(path)
                ? NoLongerAFolder(path)
                : RuleSetLoader.Load([path], secretFiles, _backends ??= options.Value.ToBackendCatalog(), _parsed);
            var parsed = rules.Files.Select(f => f.File).ToHashSet(StringComparer.Ordinal);
            var loaderErrors = rules.Diagnostics.Where(d => !parsed.Contains(d.File) && !rules.ListingErrors.Contains(d)).ToList();
            var unlisted = rules.ListingErrors.Select(e => e.File).ToHashSet(StringComparer.Ordinal);
            var change = registry.Apply(rules.Files, loaderErrors, rules.ListingErrors, _rulesIsFolder == true ? path : null);
            if (change.Added.Count + change.Removed.Count + change.Changed.Count > 0)
            {
                LogReloaded(change.Added.Count, change.Changed.Count, change.Removed.Count, registry.Entries.Count);
                foreach (var (policy, error) in await scheduler.ApplyAsync(change, cancellationToken).ConfigureAwait(false))
                {
                    registry.Reject(policy.Name, error);
                }
            }

            // A deleted file's rules_valid series goes away with it.
            metrics.RetainRuleFiles(registry.Files.Select(f => f.File));
            foreach (var file in registry.Files)
            {
                metrics.SetRuleFileValid(file.File, file.Valid);
                var fingerprint = string.Join('\n', file.Errors);
                if (_reported.TryGetValue(file.File, out var last) && last == fingerprint)
                {
                    continue;
                }

                _reported[file.File] = fingerprint;
                if (!file.Valid)
                {
                    metrics.RecordRuleLoadError(file.File);
                    foreach (var error in file.Errors)
                    {
                        if (unlisted.Contains(file.File))
                        {
                            LogListingFailed(error);
                        }
                        else if (file.Policies.Count > 0)
                        {
                            // Only say a last good version keeps running when there is one.
                            LogRuleError(error);
                        }
                        else
                        {
                            LogRuleErrorNothingRuns(error);
                        }
                    }
                }
            }

        }
        finally
        {
            _reloadGate.Release();
        }
    }

    // A rules folder replaced by a file is not "every policy was deleted": its files are unknown, not gone.
    private static RuleSet NoLongerAFolder(string path)
    {
        var error = new RuleDiagnostic(path, 1, 1, string.Empty, "cannot list the folder: it is a file now (it was a folder when the daemon started)");
        return new RuleSet([], [error], []) { ListingErrors = [error] };
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var watcher = CreateWatcher();
        var rescan = options.Value.RescanIntervalValue;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                // Wait for a file event or the rescan interval, whichever comes first; then let a burst of
                // events (an editor's save, a git-sync swap) settle before reading.
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                timeout.CancelAfter(rescan);
                try
                {
                    await _changed.WaitAsync(timeout.Token).ConfigureAwait(false);
                    await Task.Delay(TimeSpan.FromMilliseconds(300), time, stoppingToken).ConfigureAwait(false);
                    while (_changed.CurrentCount > 0)
                    {
                        await _changed.WaitAsync(stoppingToken).ConfigureAwait(false);
                    }
                }
                catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
                {
                    // The rescan interval passed.
                }

                await LoadAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // A reload must never take the daemon down: the last good rules keep running.
                LogReloadFailed(e);
            }
        }
    }

    private FileSystemWatcher? CreateWatcher()
    {
        var path = options.Value.Rules;
        var dir = Directory.Exists(path) ? path : Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is null || !Directory.Exists(dir))
        {
            return null;
        }

        FileSystemWatcher? watcher = null;
        try
        {
            watcher = new FileSystemWatcher(dir) { IncludeSubdirectories = true, NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size };
            FileSystemEventHandler signal = (_, _) => _changed.Release();
            watcher.Changed += signal;
            watcher.Created += signal;
            watcher.Deleted += signal;
            watcher.Renamed += (_, _) => _changed.Release();
            watcher.Error += (_, e) => LogWatcherFailed(e.GetException());
            watcher.EnableRaisingEvents = true;
            return watcher;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            // E.g. the node's inotify instances are used up: the periodic rescan still picks every change up.
            watcher?.Dispose();
            LogWatcherFailed(e);
            return null;
        }
    }

    [LoggerMessage(EventId = 103, Level = LogLevel.Warning, Message = "Watching the rules folder for changes failed; changes are picked up by the periodic rescan only")]
    private partial void LogWatcherFailed(Exception exception);

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Rules reloaded: {Added} added, {Changed} changed, {Removed} removed; {Total} policies running")]
    private partial void LogReloaded(int added, int changed, int removed, int total);

    [LoggerMessage(EventId = 101, Level = LogLevel.Error, Message = "Rule error (the last good version of this file keeps running): {Error}")]
    private partial void LogRuleError(string error);

    [LoggerMessage(EventId = 104, Level = LogLevel.Error, Message = "Cannot list the rules (every policy keeps its last good version; nothing is removed until it can): {Error}")]
    private partial void LogListingFailed(string error);
    [LoggerMessage(EventId = 105, Level = LogLevel.Error, Message = "Rule error (no version of this file has loaded, so none of its policies run): {Error}")]
    private partial void LogRuleErrorNothingRuns(string error);

    [LoggerMessage(EventId = 102, Level = LogLevel.Error, Message = "Reloading the rules failed; the current rules keep running")]
    private partial void LogReloadFailed(Exception exception);
}
