namespace RollbackSentinel.Testing.Prometheus;

/// <summary>The last lines a child process wrote, kept small enough to put into an exception message.</summary>
internal sealed class BoundedLog(int maxLines = 60, int maxLineLength = 400)
{
    private readonly Queue<string> _lines = new();
    private readonly Lock _gate = new();

    public void Add(string? line)
    {
        if (line is null)
        {
            return;
        }

        if (line.Length > maxLineLength)
        {
            line = string.Concat(line.AsSpan(0, maxLineLength), "...");
        }

        lock (_gate)
        {
            _lines.Enqueue(line);
            while (_lines.Count > maxLines)
            {
                _lines.Dequeue();
            }
        }
    }

    public bool Contains(string text)
    {
        lock (_gate)
        {
            return _lines.Any(l => l.Contains(text, StringComparison.OrdinalIgnoreCase));
        }
    }

    public override string ToString()
    {
        lock (_gate)
        {
            return _lines.Count == 0 ? "(no output)" : string.Join(Environment.NewLine, _lines);
        }
    }
}
