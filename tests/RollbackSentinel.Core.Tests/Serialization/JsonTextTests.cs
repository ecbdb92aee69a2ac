using System.Text.Json;
using RollbackSentinel.Core.Serialization;

namespace RollbackSentinel.Core.Tests.Serialization;

/// <summary>
/// <see cref="JsonText.Write"/> reuses one buffer and writer per thread: every document still comes out whole and on
/// its own, whatever the one before it did (threw half way, was large, was being written around it).
/// </summary>
public sealed class JsonTextTests
{
    private static string Doc(string name, int value) =>
        JsonText.Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("name", name);
            w.WriteNumber("value", value);
            w.WriteEndObject();
        });

    [Fact]
    public void DocumentsInARow_EachHoldsOnlyItsOwnContent()
    {
        Assert.Equal("""{"name":"a","value":1}""", Doc("a", 1));
        Assert.Equal("""{"name":"b","value":2}""", Doc("b", 2));
    }

    [Fact]
    public void AfterAWriteThatThrewHalfWay_TheNextDocumentIsWhole()
    {
        Assert.Throws<InvalidOperationException>(() => JsonText.Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("partial", "yes");
            throw new InvalidOperationException("the caller failed");
        }));

        Assert.Equal("""{"name":"c","value":3}""", Doc("c", 3));
    }

    [Fact]
    public void DocumentWrittenWhileWritingAnother_BothComeOutWhole()
    {
        string? inner = null;
        var outer = JsonText.Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("before", "x");
            inner = Doc("inner", 7);
            w.WriteString("after", "y");
            w.WriteEndObject();
        });

        Assert.Equal("""{"name":"inner","value":7}""", inner);
        Assert.Equal("""{"before":"x","after":"y"}""", outer);
    }

    [Fact]
    public void LargeDocument_IsWhole_AndTheSmallOneAfterItToo()
    {
        var text = new string('q', 200_000);
        var large = JsonText.Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("query", text);
            w.WriteEndObject();
        });

        Assert.Equal(text, JsonDocument.Parse(large).RootElement.GetProperty("query").GetString());
        Assert.Equal("""{"name":"d","value":4}""", Doc("d", 4));
    }

    [Fact]
    public async Task DocumentsOnManyThreadsAtOnce_NeverMix()
    {
        var results = await Task.WhenAll(Enumerable.Range(0, 64).Select(i => Task.Run(() =>
            Enumerable.Range(0, 200).Select(j => (Expected: $$"""{"name":"t{{i}}","value":{{j}}}""", Actual: Doc($"t{i}", j))).ToList())));

        Assert.All(results.SelectMany(r => r), r => Assert.Equal(r.Expected, r.Actual));
    }
}
