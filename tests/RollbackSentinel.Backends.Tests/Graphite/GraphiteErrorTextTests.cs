using System.Text;
using RollbackSentinel.Backends.Graphite;

namespace RollbackSentinel.Backends.Tests.Graphite;

public sealed class GraphiteErrorTextTests
{
    private static GraphiteError? Parse(string body) => GraphiteErrorText.Parse(Encoding.UTF8.GetBytes(body));

    [Fact]
    public void Parse_BadRequestText_IsItsFirstLineUnescaped()
    {
        var said = Parse("Invalid parameters (Received request for unknown function: nosuchfunc); targets: &quot;nosuchfunc(a.b)&quot;\n");

        Assert.Equal(new GraphiteError("Invalid parameters (Received request for unknown function: nosuchfunc); targets: \"nosuchfunc(a.b)\"", null), said);
    }

    [Fact]
    public void Parse_ErrorPage_IsTheTracebacksLastLine()
    {
        var said = Parse("""
            <body style="background-color: #666666; color: black;">
            <center>
            <h2 style='font-family: "Arial", sans-serif'>
            <p>Graphite encountered an unexpected error while handling your request.</p>
            </h2>
            <div style="width: 70%;">
            <pre>
            Traceback (most recent call last):
              File &quot;/usr/lib/python3/dist-packages/graphite/tags/base.py&quot;, line 272, in parse_tagspec
                raise ValueError(&quot;Invalid tagspec %s&quot; % tagspec)
            ValueError: Invalid tagspec &#x27;foo&#x27;

            </pre>
            </div>
            """);

        Assert.Equal(new GraphiteError("ValueError: Invalid tagspec 'foo'", "ValueError"), said);
        Assert.True(said!.BlamesTarget);
    }

    [Fact]
    public void Parse_ErrorPageOfAServerFailure_DoesNotBlameTheTarget()
    {
        var said = Parse("<p>Graphite encountered an unexpected error while handling your request.</p><pre>\nTraceback\nOSError: [Errno 28] No space left on device\n</pre>");

        Assert.Equal("OSError", said!.ExceptionType);
        Assert.False(said.BlamesTarget);
    }

    [Theory]
    [InlineData("<html><head><title>502 Bad Gateway</title></head></html>")]
    [InlineData("")]
    [InlineData("   \n ")]
    public void Parse_SomethingElse_IsNull(string body)
    {
        Assert.Null(Parse(body));
    }
}
