// The blue/green rollback demo on real servers (scripts/demo runs this). Options:
//   --rules DIR           the demo policy folder (default: rules/demo of this repository)
//   --demoshop PATH       DemoShop.dll     (default: the one built with this project)
//   --sentinel PATH       RollbackSentinel.dll (default: the one built with this project)
//   --linger SECONDS      after the rollback, keep everything running this long (Ctrl+C ends it early) to look at the
//                         sentinel's status page; default 0
// Exits 0 only if the sentinel rolled back (action succeeded, HAProxy read back at the policy's weights);
// 1 if it did not, 2 on bad arguments, 130 when interrupted. Everything it starts is stopped before it exits.
using System.Diagnostics;
using System.Runtime.InteropServices;
using BlueGreenDemo;

string? Arg(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
if (args.Any(a => a is "-h" or "--help"))
{
    Console.WriteLine("usage: BlueGreenDemo [--rules DIR] [--demoshop DemoShop.dll] [--sentinel RollbackSentinel.dll] [--linger SECONDS]");
    return 0;
}

var linger = TimeSpan.Zero;
if (Arg("--linger") is { } lingerText)
{
    if (!int.TryParse(lingerText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seconds) || seconds > 86_400)
    {
        Console.Error.WriteLine($"BlueGreenDemo: --linger takes whole seconds (0 to 86400), got '{lingerText}'");
        return 2;
    }

    linger = TimeSpan.FromSeconds(seconds);
}

// While lingering, Ctrl+C ends the lingering (then the demo stops everything and reports as usual).
using var lingering = new CancellationTokenSource();
var isLingering = false;

using var interrupted = new CancellationTokenSource();
void Interrupt(PosixSignalContext context)
{
    context.Cancel = true; // stop everything first, then exit
    if (Volatile.Read(ref isLingering))
    {
        Console.Error.WriteLine($"BlueGreenDemo: {context.Signal}, done looking: stopping everything the demo started...");
        lingering.Cancel();
        return;
    }

    Console.Error.WriteLine($"BlueGreenDemo: {context.Signal}, stopping everything the demo started...");
    interrupted.Cancel();
}

using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Interrupt);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Interrupt);

var options = new BlueGreenScenarioOptions
{
    RulesDirectory = Arg("--rules"),
    DemoShopDll = Arg("--demoshop"),
    SentinelDll = Arg("--sentinel"),
    Log = line => Console.WriteLine(line),
    AfterRollback = linger <= TimeSpan.Zero ? null : async (address, token, ct) =>
    {
        Console.WriteLine($"Rolled back. The status page stays up for {linger.TotalSeconds:0}s (Ctrl+C to stop now): {address} (token {token})");
        Volatile.Write(ref isLingering, true);
        try
        {
            using var both = CancellationTokenSource.CreateLinkedTokenSource(ct, lingering.Token);
            await Task.Delay(linger, both.Token);
        }
        catch (OperationCanceledException) when (lingering.IsCancellationRequested && !ct.IsCancellationRequested)
        {
        }
        finally
        {
            Volatile.Write(ref isLingering, false);
        }
    },
};

var total = Stopwatch.StartNew();
try
{
    var result = await new BlueGreenScenario(options).RunAsync(interrupted.Token);
    Console.WriteLine();
    Console.WriteLine(result.Timeline.Format());
    Console.WriteLine($"Whole demo: {total.Elapsed.TotalSeconds:0.0}s");
    if (result.RolledBack)
    {
        Console.WriteLine("OK: the sentinel rolled green back; HAProxy sends every request to blue again.");
        return 0;
    }

    Console.WriteLine($"FAILED: no rollback (action {result.Action.GetProperty("status")}, HAProxy {HAProxyServers.Describe(result.ServersAfter)})");
    return 1;
}
catch (OperationCanceledException) when (interrupted.IsCancellationRequested)
{
    Console.Error.WriteLine("BlueGreenDemo: interrupted; everything it started is stopped.");
    return 130;
}
catch (Exception e)
{
    Console.Error.WriteLine($"BlueGreenDemo FAILED after {total.Elapsed.TotalSeconds:0.0}s: {e}");
    return 1;
}
