using RollbackSentinel.Core.Evaluation;
using RollbackSentinel.Core.Incidents;
using RollbackSentinel.Core.Policies;
using RollbackSentinel.Core.State;
using RollbackSentinel.Rules;

namespace RollbackSentinel.Daemon;

/// <summary>One running policy: its current definition, its runner (state), and which file it came from.</summary>
internal sealed class PolicyEntry(Policy policy, string file, PolicyRunner runner)
{
    /// <summary>The newest version (what the API shows); the runner switches to it at its next evaluation.</summary>
    public Policy Policy { get; set; } = policy;

    public string File { get; set; } = file;

    public PolicyRunner Runner { get; } = runner;

    /// <summary>
    /// The version of the stored state the runner's state stands on (loaded or last committed); null until the first
    /// evaluation loads it, and after a commit was refused: the next evaluation restores the runner from the store.
    /// </summary>
    public long? StateVersion { get; private set; }

    /// <summary>What the policy's detect query returned when it last ran (used under <see cref="Gate"/>).</summary>
    public DetectMemory? Detected { get; set; }

    /// <summary>One evaluation at a time (Quartz also refuses overlaps; this guards reloads).</summary>
    public SemaphoreSlim Gate { get; } = new(1, 1);

    private Policy? _pendingUpdate;

    /// <summary>Hands a new version to the runner, to be applied at its next evaluation (under <see cref="Gate"/>).</summary>
    public void QueueUpdate(Policy policy)
    {
        Policy = policy;
        Volatile.Write(ref _pendingUpdate, policy);
    }

    private readonly System.Collections.Concurrent.ConcurrentQueue<(string Target, DateTimeOffset At)> _holdBacks = new();

    /// <summary>A person denied a rollback of <paramref name="target"/>: hold it back for the cooldown, from the next evaluation on.</summary>
    public void QueueHoldBack(string target, DateTimeOffset at) => _holdBacks.Enqueue((target, at));

    /// <summary>Hold-backs applied to the runner's state but not committed yet: a state restored from the store gets them again.</summary>
    private readonly List<(string Target, DateTimeOffset At)> _uncommittedHoldBacks = [];

    /// <summary>
    /// Resumes from the stored state (<paramref name="stored"/>, null: never stored) unless the runner already stands
    /// on its version: the first evaluation, or another writer committed since. Series of triggers edited since the
    /// state was written are dropped (<see cref="PolicyRunner.Restore"/>); hold-backs not committed yet are kept.
    /// True if the runner was restored. Call with <see cref="Gate"/> held.
    /// </summary>
    public bool Resume(StoredPolicyState? stored)
    {
        var version = stored?.Version ?? 0;
        if (StateVersion == version)
        {
            return false;
        }

        Runner.Restore(stored?.State ?? PolicyState.Empty);
        foreach (var (target, at) in _uncommittedHoldBacks)
        {
            Runner.HoldBack(target, at);
        }

        StateVersion = version;
        return true;
    }

    /// <summary>The runner's state was committed as <paramref name="version"/>. Call with <see cref="Gate"/> held.</summary>
    public void Committed(long version)
    {
        StateVersion = version;
        _uncommittedHoldBacks.Clear();
    }

    /// <summary>A commit was refused (another writer committed first): the next evaluation restores from the store.</summary>
    public void Forget() => StateVersion = null;

    /// <summary>Applies a queued version and hold-backs; call with <see cref="Gate"/> held.</summary>
    public void ApplyPendingUpdate()
    {
        while (_holdBacks.TryDequeue(out var holdBack))
        {
            Runner.HoldBack(holdBack.Target, holdBack.At);
            _uncommittedHoldBacks.Add(holdBack);
        }

        if (Interlocked.Exchange(ref _pendingUpdate, null) is { } policy)
        {
            Runner.Update(policy);
        }
    }
}

/// <summary>The load status of one rule file.</summary>
public sealed record RuleFileStatus(string File, bool Valid, IReadOnlyList<string> Errors, IReadOnlyList<string> Policies, DateTimeOffset CheckedAt);

/// <summary>What a reload changed, for the scheduler.</summary>
internal sealed record RegistryChange(IReadOnlyList<Policy> Added, IReadOnlyList<Policy> Removed, IReadOnlyList<(Policy Old, Policy New)> Changed);

/// <summary>
/// The policies the daemon runs, rebuilt from the rules folder on each reload. A file with errors keeps its
/// last good version running (or contributes nothing if it never had one) and its errors are reported; one
/// bad file never stops the others. Unchanged policies keep their runners, so their state goes on.
/// </summary>
internal sealed class PolicyRegistry(TimeProvider time)
{
    private readonly object _gate = new();
    private readonly Dictionary<string, PolicyEntry> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, IReadOnlyList<Policy>> _lastGoodByFile = new(StringComparer.Ordinal);

    // The bytes of each file's last good version: what the rules version digests (what runs, not what was last read).
    private readonly Dictionary<string, ReadOnlyMemory<byte>> _lastGoodContentByFile = new(StringComparer.Ordinal);
    private Dictionary<string, RuleFileStatus> _files = new(StringComparer.Ordinal);

    /// <summary>True once the rules have been loaded at least once (readiness).</summary>
    public bool Loaded { get; private set; }

    /// <summary>
    /// The version of the rules running now (<see cref="Rules.RulesVersion"/> over the last good version of every rule file),
    /// recomputed at every reload: the same on every sentinel whose rules folder holds the same files.
    /// </summary>
    public string RulesVersion { get; private set; } = Rules.RulesVersion.Of([]);

    public IReadOnlyList<PolicyEntry> Entries
    {
        get
        {
            lock (_gate)
            {
                return [.. _entries.Values.OrderBy(e => e.Policy.Name, StringComparer.Ordinal)];
            }
        }
    }

    public IReadOnlyList<RuleFileStatus> Files
    {
        get
        {
            lock (_gate)
            {
                return [.. _files.Values.OrderBy(f => f.File, StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>Takes a policy out after its schedule was refused, so the next reload adds (and retries) it; the error is kept on its file.</summary>
    public void Reject(string name, string error)
    {
        lock (_gate)
        {
            if (_entries.Remove(name, out var entry) && _files.TryGetValue(entry.File, out var status))
            {
                _files[entry.File] = status with { Valid = false, Errors = [.. status.Errors, error] };
            }
        }
    }

    public PolicyEntry? Find(string name)
    {
        lock (_gate)
        {
            return _entries.GetValueOrDefault(name);
        }
    }

    /// <summary>Applies a fresh parse of every rule file; returns what changed.</summary>
    /// <param name="files">Every rule file read.</param>
    /// <param name="loaderErrors">Files that could not be read (each keeps its last good version).</param>
    /// <param name="listingErrors">
    /// Folders that could not be listed: a file not seen may still be there, so every file not read keeps its last
    /// good version (nothing is removed) and each such folder is reported as a failed entry of its own.
    /// </param>
    /// <param name="rulesFolder">The rules folder, which the rules version names files relative to; null: the rules are one file.</param>
    public RegistryChange Apply(IReadOnlyList<FileParseResult> files, IReadOnlyList<RuleDiagnostic> loaderErrors, IReadOnlyList<RuleDiagnostic>? listingErrors = null, string? rulesFolder = null)
    {
        lock (_gate)
        {
            var now = time.GetUtcNow();
            listingErrors ??= [];
            if (files.Count == 0 && loaderErrors.Count > 0 && _entries.Count > 0)
            {
                // Nothing could be read at all (a git-sync swap in progress, a volume not mounted yet): keep running
                // what runs, and say why.
                listingErrors = [.. listingErrors, .. loaderErrors];
                loaderErrors = [];
            }

            var statuses = new Dictionary<string, RuleFileStatus>(StringComparer.Ordinal);
            var wanted = new Dictionary<string, (Policy Policy, string File)>(StringComparer.Ordinal);
            foreach (var file in files.OrderBy(f => f.File, StringComparer.Ordinal))
            {
                var errors = file.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()).ToList();
                IReadOnlyList<Policy> policies;
                if (errors.Count == 0)
                {
                    policies = file.Policies;
                    _lastGoodByFile[file.File] = policies;
                    _lastGoodContentByFile[file.File] = file.Content;
                }
                else
                {
                    policies = _lastGoodByFile.GetValueOrDefault(file.File) ?? [];
                }

                foreach (var p in policies)
                {
                    if (wanted.TryGetValue(p.Name, out var first))
                    {
                        errors.Add($"{p.Source}: metadata.name: policy name '{p.Name}' is already used in {first.File}; this one is not loaded");
                        continue;
                    }

                    wanted[p.Name] = (p, file.File);
                }

                statuses[file.File] = new RuleFileStatus(file.File, errors.Count == 0, errors, policies.Select(p => p.Name).ToArray(), now);
            }

            foreach (var e in loaderErrors)
            {
                // A file that cannot be read keeps its last good version, like a file with errors.
                var kept = _lastGoodByFile.GetValueOrDefault(e.File) ?? [];
                foreach (var p in kept.Where(p => !wanted.ContainsKey(p.Name)))
                {
                    wanted[p.Name] = (p, e.File);
                }

                statuses[e.File] = new RuleFileStatus(e.File, false, [e.ToString()], kept.Select(p => p.Name).ToArray(), now);
            }

            if (listingErrors.Count > 0)
            {
                // Unseen is not deleted while a folder cannot be listed: every other file keeps its last good version.
                foreach (var (file, kept) in _lastGoodByFile.Where(f => !statuses.ContainsKey(f.Key)).ToList())
                {
                    foreach (var p in kept.Where(p => !wanted.ContainsKey(p.Name)))
                    {
                        wanted[p.Name] = (p, file);
                    }

                    statuses[file] = _files.TryGetValue(file, out var last) ? last : new RuleFileStatus(file, true, [], kept.Select(p => p.Name).ToArray(), now);
                }

                foreach (var e in listingErrors)
                {
                    statuses[e.File] = new RuleFileStatus(e.File, false, [e.ToString()], [], now);
                }
            }

            foreach (var gone in _lastGoodByFile.Keys.Where(f => !statuses.ContainsKey(f)).ToList())
            {
                _lastGoodByFile.Remove(gone);
                _lastGoodContentByFile.Remove(gone);
            }

            RulesVersion = Rules.RulesVersion.Of(_lastGoodContentByFile.Select(f => (Rules.RulesVersion.RelativePath(rulesFolder, f.Key), f.Value)));

            var added = new List<Policy>();
            var changed = new List<(Policy, Policy)>();
            foreach (var (name, (policy, file)) in wanted)
            {
                if (_entries.TryGetValue(name, out var entry))
                {
                    entry.File = file;
                    if (!PolicyComparer.SameDefinition(entry.Policy, policy))
                    {
                        changed.Add((entry.Policy, policy));
                        entry.QueueUpdate(policy);
                    }
                }
                else
                {
                    _entries[name] = new PolicyEntry(policy, file, new PolicyRunner(policy, time));
                    added.Add(policy);
                }
            }

            var removed = _entries.Keys.Where(n => !wanted.ContainsKey(n)).Select(n => _entries[n].Policy).ToList();
            foreach (var p in removed)
            {
                _entries.Remove(p.Name);
            }

            _files = statuses;
            Loaded = true;
            return new RegistryChange(added, removed, changed);
        }
    }
}
