using System.Text.Json;
using System.Text.Json.Nodes;
using RollbackSentinel.Actions.Processes;

namespace RollbackSentinel.Actions.Tests.Helm;

/// <summary>
/// A stand-in <c>helm</c> (a python3 script) in its own temp directory, answering from a JSON state file next to
/// it and logging every argument vector it is run with (one JSON array a line). It speaks the part of Helm 3
/// the adapter uses: <c>history RELEASE -o json --max N</c>, <c>get values RELEASE [--revision N] -o json</c>,
/// <c>rollback RELEASE N [--wait] [--timeout D]</c>, with <c>--namespace</c> and <c>--kube-context</c>.
/// Through the state it can be told to fail a subcommand (exit 1, <c>Error: ...</c> on stderr, optionally only
/// the first few times) or to hang.
/// </summary>
public sealed class FakeHelm : IDisposable
{
    private const string Script = """
        #!/usr/bin/env python3
        # Stand-in for Helm 3, for tests: state in state.json, calls logged to calls.log (both next to this file).
        import json, os, sys, time

        here = os.path.dirname(os.path.realpath(__file__))
        state_path = os.path.join(here, "state.json")
        argv = sys.argv[1:]
        with open(os.path.join(here, "calls.log"), "a") as log:
            log.write(json.dumps(argv) + "\n")

        def load():
            with open(state_path) as f:
                return json.load(f)

        def save(state):
            tmp = state_path + ".tmp"
            with open(tmp, "w") as f:
                json.dump(state, f, indent=2)
            os.replace(tmp, state_path)

        def die(message):
            sys.stderr.write("Error: " + message + "\n")
            sys.exit(1)

        VALUED = {"--namespace", "-n", "--kube-context", "-o", "--output", "--max", "--revision", "--timeout"}
        BOOLEAN = {"--wait"}
        flags, positional, i = {}, [], 0
        while i < len(argv):
            a = argv[i]
            if a in VALUED:
                if i + 1 >= len(argv):
                    die("flag needs an argument: " + a)
                flags[a] = argv[i + 1]
                i += 2
            elif a in BOOLEAN:
                flags[a] = True
                i += 1
            elif a.startswith("-"):
                die("unknown flag: " + a)
            else:
                positional.append(a)
                i += 1

        if not positional:
            die("no command given")
        sub = positional[0]
        state = load()

        if sub in state.get("hang", []):
            time.sleep(3600)

        def now():
            # When a revision the stand-in makes was "updated": as Helm prints it, RFC3339 with nanoseconds.
            return state.get("now", "2026-11-20T10:00:30.123456789Z")

        def append_rollback(revs, to, status, description, supersede):
            match = [r for r in revs if r["revision"] == to]
            source = match[0] if match else {"chart": "?", "app_version": "?", "values": None}
            if supersede:
                for r in revs:
                    if r["status"] == "deployed":
                        r["status"] = "superseded"
            revs.append({"revision": max(r["revision"] for r in revs) + 1, "updated": now(),
                         "status": status, "chart": source["chart"], "app_version": source["app_version"],
                         "description": description, "values": source.get("values")})

        failure = state.get("fail", {}).get(sub)
        if failure is not None:
            times = failure.get("times")
            if times is None or times > 0:
                if times is not None:
                    failure["times"] = times - 1
                    save(state)
                if sub == "rollback" and len(positional) > 2:
                    revs = state["releases"].get(positional[1], [])
                    to = int(positional[2])
                    if failure.get("recordFailedRevision"):
                        # Helm 3 when applying the rollback fails: the deployed revision is superseded, the new one failed.
                        append_rollback(revs, to, "failed", "Rollback \"%s\" failed: %s" % (positional[1], failure["message"]), True)
                        save(state)
                    concurrent = failure.get("concurrent")
                    if concurrent:
                        # Another helm rolled back to the same revision just before: its revision, in progress or done.
                        append_rollback(revs, to, concurrent, "Rollback to %d" % to, concurrent == "deployed")
                        save(state)
                die(failure["message"])

        def release(name):
            revs = state["releases"].get(name)
            if not revs:
                die("release: not found")
            return revs

        def public(r):
            return {k: r[k] for k in ("revision", "updated", "status", "chart", "app_version", "description")}

        if sub == "history":
            if len(positional) != 2:
                die("\"helm history\" requires 1 argument")
            revs = sorted(release(positional[1]), key=lambda r: r["revision"])
            revs = revs[-int(flags.get("--max", "256")):]
            if flags.get("-o") != "json":
                die("the stand-in only prints -o json")
            print(json.dumps([public(r) for r in revs]))
        elif sub == "get":
            if len(positional) != 3 or positional[1] != "values":
                die("the stand-in only knows \"helm get values RELEASE\"")
            revs = release(positional[2])
            if "--revision" in flags:
                match = [r for r in revs if r["revision"] == int(flags["--revision"])]
                if not match:
                    die("release: not found")
                rev = match[0]
            else:
                rev = max(revs, key=lambda r: r["revision"])
            if flags.get("-o") != "json":
                die("the stand-in only prints -o json")
            print(json.dumps(rev.get("values")))
        elif sub == "rollback":
            if len(positional) != 3:
                die("the stand-in needs \"helm rollback RELEASE REVISION\"")
            revs = release(positional[1])
            to = int(positional[2])
            match = [r for r in revs if r["revision"] == to]
            if not match:
                die("release has no %d version" % to)
            append_rollback(revs, to, "deployed", "Rollback to %d" % to, True)
            save(state)
            print("Rollback was a success! Happy Helming!")
        else:
            die("unknown command \"%s\" for \"helm\"" % sub)
        """;

    private readonly string _statePath;
    private readonly string _logPath;

    public FakeHelm()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("fake-helm-").FullName;
        _statePath = Path.Combine(Directory, "state.json");
        _logPath = Path.Combine(Directory, "calls.log");
        var script = Path.Combine(Directory, "helm");
        File.WriteAllText(script, Script);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        State = new JsonObject { ["releases"] = new JsonObject() };
        Save();
    }

    /// <summary>Where the stand-in lives (put first on PATH).</summary>
    public string Directory { get; }

    /// <summary>The stand-in's full path (the runner also finds a bare "helm" on the PATH it passes, as the tests use it).</summary>
    public string Executable => Path.Combine(Directory, "helm");

    /// <summary>The state the stand-in answers from; call <see cref="Save"/> after changing it.</summary>
    public JsonObject State { get; private set; }

    /// <summary>A runner whose PATH starts with the stand-in's directory (for the programs the stand-in itself runs).</summary>
    public ICommandRunner Runner => new ProcessCommandRunner(new Dictionary<string, string?>
    {
        ["PATH"] = Directory + ":" + Environment.GetEnvironmentVariable("PATH"),
    });

    /// <summary>Every argument vector the stand-in was run with, in order.</summary>
    public IReadOnlyList<string[]> Calls =>
        File.Exists(_logPath)
            ? File.ReadAllLines(_logPath).Where(l => l.Length > 0).Select(l => JsonSerializer.Deserialize<string[]>(l)!).ToList()
            : [];

    /// <summary>The calls whose subcommand is <paramref name="subcommand"/>.</summary>
    public IReadOnlyList<string[]> CallsOf(string subcommand) => Calls.Where(c => c.Length > 0 && c[0] == subcommand).ToList();

    /// <summary>Adds a revision to a release.</summary>
    /// <remarks>
    /// <paramref name="appVersion"/> defaults to the chart's version (<c>shop-1.5.0</c>: <c>1.5.0</c>); <paramref name="updated"/>
    /// to 09:MM on 2026-11-20 UTC with MM the revision number, before the tests' decisions at 10:00.
    /// </remarks>
    public FakeHelm Revision(
        string release, int revision, string status, string chart, string description, JsonNode? values = null, string? appVersion = null, DateTimeOffset? updated = null)
    {
        Load();
        var releases = State["releases"]!.AsObject();
        if (releases[release] is not JsonArray revisions)
        {
            revisions = [];
            releases[release] = revisions;
        }

        revisions.Add(new JsonObject
        {
            ["revision"] = revision,
            ["updated"] = HelmTime(updated ?? new DateTimeOffset(2026, 11, 20, 9, revision, 0, TimeSpan.Zero)),
            ["status"] = status,
            ["chart"] = chart,
            ["app_version"] = appVersion ?? chart[(chart.LastIndexOf('-') + 1)..],
            ["description"] = description,
            ["values"] = values,
        });
        Save();
        return this;
    }

    /// <summary>
    /// Makes a subcommand (<c>history</c>, <c>get</c>, <c>rollback</c>) exit 1 with <c>Error: message</c>. For a rollback,
    /// <paramref name="recordFailedRevision"/> first records what Helm 3 does when applying it fails (the deployed revision
    /// superseded, a new <c>failed</c> one described <c>Rollback "RELEASE" failed: message</c>), and
    /// <paramref name="concurrent"/> first records another helm's <c>Rollback to N</c> with that status
    /// (<c>pending-rollback</c>, or <c>deployed</c>), as when two sentinels roll back at the same moment.
    /// </summary>
    public FakeHelm Fail(string subcommand, string message, int? times = null, bool recordFailedRevision = false, string? concurrent = null)
    {
        Load();
        var fail = State["fail"] as JsonObject ?? [];
        State["fail"] = fail;
        fail[subcommand] = new JsonObject
        {
            ["message"] = message, ["times"] = times, ["recordFailedRevision"] = recordFailedRevision, ["concurrent"] = concurrent,
        };
        Save();
        return this;
    }

    /// <summary>The time the stand-in stamps on the revisions it makes (a rollback's <c>updated</c>).</summary>
    public FakeHelm Now(DateTimeOffset now)
    {
        Load();
        State["now"] = HelmTime(now);
        Save();
        return this;
    }

    /// <summary>A time as Helm 3 prints <c>updated</c> (Go's RFC3339Nano): nanoseconds, here always 123456789 past the second.</summary>
    public static string HelmTime(DateTimeOffset t) =>
        t.ToString("yyyy-MM-dd'T'HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture) + ".123456789"
        + (t.Offset == TimeSpan.Zero ? "Z" : t.ToString("zzz", System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Makes a subcommand sleep (until killed).</summary>
    public FakeHelm Hang(string subcommand)
    {
        Load();
        var hang = State["hang"] as JsonArray ?? [];
        State["hang"] = hang;
        hang.Add(subcommand);
        Save();
        return this;
    }

    /// <summary>The release's revisions as the stand-in holds them now (re-read from its state file).</summary>
    public IReadOnlyList<JsonObject> History(string release)
    {
        Load();
        return State["releases"]![release]!.AsArray().Select(r => r!.AsObject()).ToList();
    }

    private void Load() => State = JsonNode.Parse(File.ReadAllText(_statePath))!.AsObject();

    public void ClearCalls() => File.Delete(_logPath);

    public void Save() => File.WriteAllText(_statePath, State.ToJsonString());

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);
}
