using RollbackSentinel.Backends.Http;

namespace RollbackSentinel.Backends.Tests.Answers;

/// <summary>
/// How every backend reads an answer (<see cref="BackendHttp.ReadAtMostAsync"/>): whole and intact across many reads,
/// up to the cap and not a byte past it, whatever length the server announced; and without a buffer of its own per
/// answer (the daemon reads three answers per policy evaluation).
/// </summary>
public sealed class ReadAtMostTests
{
    private static byte[] Body(int length)
    {
        var bytes = new byte[length];
        new Random(length).NextBytes(bytes);
        return bytes;
    }

    /// <summary>An answer as the stream a server sends: in pieces of <paramref name="piece"/> bytes, with the given Content-Length (or none).</summary>
    private static StreamContent Answer(byte[] body, long? announced, int piece = 1000)
    {
        var content = new StreamContent(new TrickleStream(body, piece));
        content.Headers.ContentLength = announced;
        return content;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(300)]
    [InlineData(16 * 1024)]
    [InlineData(100_000)]
    public async Task Body_ReadInPieces_ComesBackWholeAndIntact_WithOrWithoutContentLength(int length)
    {
        var body = Body(length);

        var withLength = await BackendHttp.ReadAtMostAsync(Answer(body, body.Length), 1_000_000, CancellationToken.None);
        var without = await BackendHttp.ReadAtMostAsync(Answer(body, null), 1_000_000, CancellationToken.None);

        Assert.Equal(body, withLength!.Value.ToArray());
        Assert.Equal(body, without!.Value.ToArray());
    }

    [Fact]
    public async Task Body_ExactlyAtTheCap_IsRead_AndOneBytePast_IsRefused()
    {
        var body = Body(40_000);

        Assert.Equal(body, (await BackendHttp.ReadAtMostAsync(Answer(body, null), 40_000, CancellationToken.None))!.Value.ToArray());
        Assert.Null(await BackendHttp.ReadAtMostAsync(Answer(body, null), 39_999, CancellationToken.None));
    }

    [Theory]
    [InlineData(10)]      // announced less than it sends
    [InlineData(90_000)]  // announced more than it sends
    public async Task AnnouncedLength_IsOnlyAHint_TheBytesSentAreWhatCounts(long announced)
    {
        var body = Body(50_000);

        Assert.Equal(body, (await BackendHttp.ReadAtMostAsync(Answer(body, announced), 100_000, CancellationToken.None))!.Value.ToArray());
        Assert.Null(await BackendHttp.ReadAtMostAsync(Answer(body, announced), 49_999, CancellationToken.None));
    }

    [Fact]
    public async Task SmallAnswer_AllocatesAboutItsOwnSize_NotAReadBuffer()
    {
        // An instant query's answer is a few hundred bytes; an 80 KB buffer per answer was three quarters of what the
        // daemon allocated. The stream completes synchronously here, so everything runs on this thread.
        var body = Body(300);
        for (var i = 0; i < 3; i++)
        {
            await BackendHttp.ReadAtMostAsync(Answer(body, body.Length, piece: 300), 1_000_000, CancellationToken.None);
        }

        var content = Answer(body, body.Length, piece: 300);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var read = await BackendHttp.ReadAtMostAsync(content, 1_000_000, CancellationToken.None);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(body, read!.Value.ToArray());
        Assert.InRange(allocated, body.Length, 4 * 1024);
    }

    [Fact]
    public async Task HugeAnnouncedLength_WithLittleSent_GetsNoBufferOfThatSize()
    {
        // A server (or a proxy) announcing 500 MB under a 1 GB cap and sending 300 bytes: the announcement is a hint only.
        var body = Body(300);
        await BackendHttp.ReadAtMostAsync(Answer(body, 500_000_000, piece: 300), 1_000_000_000, CancellationToken.None);

        var content = Answer(body, 500_000_000, piece: 300);
        var before = GC.GetAllocatedBytesForCurrentThread();
        var read = await BackendHttp.ReadAtMostAsync(content, 1_000_000_000, CancellationToken.None);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(body, read!.Value.ToArray());
        Assert.InRange(allocated, body.Length, (1024 * 1024) + (8 * 1024));
    }

    /// <summary>A stream that hands out at most <c>piece</c> bytes per read, as a socket does.</summary>
    private sealed class TrickleStream(byte[] body, int piece) : Stream
    {
        private int _position;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = Math.Min(Math.Min(piece, buffer.Length), body.Length - _position);
            body.AsSpan(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));
    }
}
