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

        failure = state.get("fail", {}).get(sub)
        if failure is not None:
            times = failure.get("times")
            if times is None or times > 0:
                if times is not None:
                    failure["times"] = times - 1
                    save(state)
                if sub == "rollback" and failure.get("recordFailedRevision"):
                    revs = state["releases"].get(positional[1], [])
                    for r in revs:
                        if r["status"] == "deployed":
                            r["status"] = "superseded"
                    target = positional[2] if len(positional) > 2 else "?"
                    revs.append({"revision": max(r["revision"] for r in revs) + 1, "updated": "2026-11-20T10:30:00.123456789Z",
                                 "status": "failed", "chart": "?", "app_version": "?",
                                 "description": "Rollback \"%s\" failed: %s" % (positional[1], failure["message"]), "values": None})
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
            for r in revs:
                if r["status"] == "deployed":
                    r["status"] = "superseded"
            source = match[0]
            revs.append({"revision": max(r["revision"] for r in revs) + 1, "updated": "2026-11-20T10:30:00.123456789Z",
                         "status": "deployed", "chart": source["chart"], "app_version": source["app_version"],
                         "description": "Rollback to %d" % to, "values": source.get("values")})
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

    /// <summary>
    /// The stand-in's full path. Adapters are given this rather than "helm": .NET looks a bare program name up on
    /// the test process's own PATH, not on the PATH passed to the child, so a PATH entry alone cannot select it.
    /// </summary>
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
    public FakeHelm Revision(string release, int revision, string status, string chart, string description, JsonNode? values = null)
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
            ["updated"] = $"2026-11-20T10:{revision:00}:00.123456789Z",
            ["status"] = status,
            ["chart"] = chart,
            ["app_version"] = chart[(chart.LastIndexOf('-') + 1)..],
            ["description"] = description,
            ["values"] = values,
        });
        Save();
        return this;
    }

    /// <summary>Makes a subcommand (<c>history</c>, <c>get</c>, <c>rollback</c>) exit 1 with <c>Error: message</c>.</summary>
    public FakeHelm Fail(string subcommand, string message, int? times = null, bool recordFailedRevision = false)
    {
        Load();
        var fail = State["fail"] as JsonObject ?? [];
        State["fail"] = fail;
        fail[subcommand] = new JsonObject { ["message"] = message, ["times"] = times, ["recordFailedRevision"] = recordFailedRevision };
        Save();
        return this;
    }

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
