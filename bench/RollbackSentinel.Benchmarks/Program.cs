using BenchmarkDotNet.Running;
using RollbackSentinel.Benchmarks;

if (args is ["--allocations", ..])
{
    await AllocationProfile.RunAsync(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 1).ConfigureAwait(false);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
