using System.Text;
using System.Text.RegularExpressions;
using RollbackSentinel.Cli;
using RollbackSentinel.Rules.Tests.Support;

namespace RollbackSentinel.Rules.Tests;

/// <summary>
/// Mutated policy documents (byte flips, deleted and repeated lines, wrong types, deep nesting, anchors and
/// aliases, huge scalars, tabs, NULs) through <c>validate</c> (in-process) and the daemon's loader
/// (<see cref="RuleSetLoader"/>): no crash, no hang (a watchdog per document), and every diagnostic located as
/// file:line:column on one line. Seeded, so a failure names the seed and document that reproduce it.
/// </summary>
public sealed partial class RuleFileFuzzTests : IDisposable
{
    /// <summary>How many mutated documents the test runs (reported in issue 11's closing note).</summary>
    public const int Documents = 2000;

    private const int Seed = 20_261_205;
    private static readonly TimeSpan Watchdog = TimeSpan.FromSeconds(20);

    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task ValidateAndLoader_MutatedDocuments_NeverCrashOrHangAndLocateEveryDiagnostic()
    {
        var random = new Random(Seed);
        var seeds = Directory.GetFiles(TestPaths.ExampleRules, "*.yaml", SearchOption.AllDirectories)
            .Concat(Directory.GetFiles(TestPaths.BrokenDir, "*.yaml", SearchOption.AllDirectories))
            .Order(StringComparer.Ordinal) // the file system's listing order differs between machines; the seed must not
            .Select(File.ReadAllText)
            .ToArray();

        var rejected = 0;
        for (var n = 0; n < Documents; n++)
        {
            var text = seeds[random.Next(seeds.Length)];
            var steps = new List<string>();
            byte[]? raw = null;
            for (var m = random.Next(1, 4); m > 0; m--)
            {
                (text, var step, raw) = Mutate(text, random);
                steps.Add(step);
            }

            // Flipped bytes are written as they are (often not UTF-8), so the loader's decoding is fuzzed too.
            var file = Path.Combine(_dir.Path, $"doc-{n}.yaml");
            await File.WriteAllBytesAsync(file, raw ?? Encoding.UTF8.GetBytes(text));
            var what = $"seed {Seed}, document {n} ({string.Join(", ", steps)})";

            var loaded = Task.Run(() => RuleSetLoader.Load([file]));
            var validated = Task.Run(async () =>
            {
                using var output = new StringWriter();
                using var error = new StringWriter();
                var exit = await CliApp.RunAsync(["validate", file], output, error);
                return (exit, Output: output.ToString(), Error: error.ToString());
            });
            Assert.True(await Task.WhenAll(loaded, validated).WaitAsync(Watchdog).ContinueWith(t => t.IsCompletedSuccessfully), $"hung or crashed on {what}");

            foreach (var d in (await loaded).Diagnostics)
            {
                Assert.True(d.File == file && d.Line >= 1 && d.Column >= 1, $"unlocated diagnostic {d} on {what}");

                // The loader's last resort keeps the daemon alive, but it is a bug with no useful position.
                Assert.DoesNotContain("internal error", d.Message, StringComparison.Ordinal);
                Assert.DoesNotContain('\n', d.ToString());
            }

            var (exit, stdout, stderr) = await validated;
            Assert.True(exit is ExitCodes.Ok or ExitCodes.InvalidRules, $"exit {exit} on {what}: {stderr}");

            // What the loader rejects, validate rejects too (validate checks more: secret files against the settings).
            Assert.True(!(await loaded).Diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error) || exit == ExitCodes.InvalidRules, $"the loader found errors but validate exited {exit} on {what}");
            rejected += exit == ExitCodes.InvalidRules ? 1 : 0;
            Assert.Matches(Summary(), stdout);
            foreach (var line in stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                Assert.True(line.StartsWith(file + ":", StringComparison.Ordinal) && Located().IsMatch(line[(file.Length + 1)..]), $"unlocated line '{line}' on {what}");
            }

            File.Delete(file);
        }

        // The mutations really break documents: a fuzzer whose documents all pass tests nothing.
        Assert.True(rejected > Documents / 4, $"only {rejected} of {Documents} mutated documents had errors");
    }

    private static (string Text, string Step, byte[]? Raw) Mutate(string text, Random random)
    {
        var (mutated, step) = MutateText(text, random, out var raw);
        return (mutated, step, raw);
    }

    private static (string Text, string Step) MutateText(string text, Random random, out byte[]? raw)
    {
        var lines = text.Split('\n').ToList();
        var at = random.Next(lines.Count);
        raw = null;
        switch (random.Next(10))
        {
            case 0:
                var bytes = Encoding.UTF8.GetBytes(text);
                for (var i = random.Next(1, 8); i > 0 && bytes.Length > 0; i--)
                {
                    bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                }

                raw = bytes;
                return (Encoding.UTF8.GetString(bytes), "byte flips");
            case 1:
                lines.RemoveAt(at);
                return (string.Join('\n', lines), $"line {at + 1} deleted");
            case 2:
                var times = random.Next(2, 200);
                lines.InsertRange(at, Enumerable.Repeat(lines[at], times));
                return (string.Join('\n', lines), $"line {at + 1} repeated {times} times");
            case 3:
                string[] values = ["[1, 2]", "{a: b}", "~", "\"0.5\"", "123", "true", "-1e309", "''", "|\n  block", "!!binary AAAA", "*nowhere", "&x y"];
                var value = values[random.Next(values.Length)];
                var colon = lines[at].IndexOf(": ", StringComparison.Ordinal);
                lines[at] = colon >= 0 ? lines[at][..(colon + 2)] + value : lines[at] + " " + value;
                return (string.Join('\n', lines), $"line {at + 1} value {value}");
            case 4:
                var opener = random.Next(4) switch { 0 => "[", 1 => "{a: ", 2 => "- ", _ => "[{" };
                var depth = random.Next(10, 50_000);
                lines.Insert(at, "x: " + string.Concat(Enumerable.Repeat(opener, depth)));
                return (string.Join('\n', lines), $"{depth} x '{opener}' at line {at + 1}");
            case 5:
                var levels = random.Next(1, 14);
                var bomb = new StringBuilder("b0: &b0 [x]\n");
                for (var i = 1; i <= levels; i++)
                {
                    bomb.Append($"b{i}: &b{i} [{string.Join(", ", Enumerable.Repeat($"*b{i - 1}", 10))}]\n");
                }

                bomb.Append(random.Next(2) == 0 ? $"? *b{levels}\n: v\n" : $"spec: *b{levels}\n");
                return (text + "\n" + bomb, $"alias bomb of {levels} levels");
            case 6:
                var size = random.Next(10) == 0 ? random.Next(500_000, 1_100_000) : random.Next(1_000, 60_000);
                var c = lines[at].IndexOf(": ", StringComparison.Ordinal);
                var huge = new string((char)('a' + random.Next(26)), size);
                lines[at] = c >= 0 ? lines[at][..(c + 2)] + huge : huge;
                return (string.Join('\n', lines), $"{size}-character scalar at line {at + 1}");
            case 7:
                lines[at] = "\t" + lines[at];
                return (string.Join('\n', lines), $"tab at line {at + 1}");
            case 8:
                string[] odd = ["\0", "\u0007", "\u001b[31m", "\r", "\u2028", "\ufeff", "\"unclosed", "{{ labels.x", "---", "...", "? [a, b]\n: c", "!!str name: x", "<<: *nowhere"];
                var insert = odd[random.Next(odd.Length)];
                var pos = random.Next(text.Length + 1);
                return (text[..pos] + insert + text[pos..], $"'{Escape(insert)}' at offset {pos}");
            default:
                var anchored = lines[at].IndexOf(": ", StringComparison.Ordinal);
                if (anchored >= 0)
                {
                    lines[at] = lines[at][..(anchored + 2)] + "&a" + at + " " + lines[at][(anchored + 2)..];
                    lines.Add($"again: *a{at}");
                }

                return (string.Join('\n', lines), $"anchor and alias at line {at + 1}");
        }
    }

    private static string Escape(string s) => RuleDiagnostic.Escape(s);

    [GeneratedRegex(@"^[0-9]+ file\(s\), [0-9]+ valid polic(y|ies) with [0-9]+ trigger\(s\): [0-9]+ error\(s\), [0-9]+ warning\(s\)(; skipped [0-9]+ rule test file\(s\))?\n$")]
    private static partial Regex Summary();

    [GeneratedRegex(@"^[1-9][0-9]*:[1-9][0-9]*: \S")]
    private static partial Regex Located();
}
