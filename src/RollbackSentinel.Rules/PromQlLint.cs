namespace RollbackSentinel.Rules;

/// <summary>
/// Offline checks of a PromQL expression that need no server: not empty, brackets balanced, strings closed.
/// The full syntax check asks a real Prometheus (<c>validate --prometheus</c>).
/// </summary>
public static class PromQlLint
{
    public static string? Check(string query)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (string.IsNullOrWhiteSpace(query))
        {
            return "the query is empty";
        }

        var stack = new Stack<(char Open, int Pos)>();
        for (var i = 0; i < query.Length; i++)
        {
            var c = query[i];
            switch (c)
            {
                case '"' or '\'' or '`':
                    var end = FindStringEnd(query, i);
                    if (end < 0)
                    {
                        return $"string starting at position {i + 1} is not closed";
                    }

                    i = end;
                    break;
                case '#':
                    // A comment runs to the end of the line.
                    var nl = query.IndexOf('\n', i);
                    i = nl < 0 ? query.Length : nl;
                    break;
                case '(' or '[' or '{':
                    stack.Push((c, i));
                    break;
                case ')' or ']' or '}':
                    var expected = c switch { ')' => '(', ']' => '[', _ => '{' };
                    if (stack.Count == 0)
                    {
                        return $"'{c}' at position {i + 1} has no matching '{expected}'";
                    }

                    var (open, pos) = stack.Pop();
                    if (open != expected)
                    {
                        return $"'{open}' at position {pos + 1} is closed by '{c}' at position {i + 1}";
                    }

                    break;
            }
        }

        return stack.Count == 0 ? null : $"'{stack.Peek().Open}' at position {stack.Peek().Pos + 1} is not closed";
    }

    private static int FindStringEnd(string q, int start)
    {
        var quote = q[start];
        for (var i = start + 1; i < q.Length; i++)
        {
            if (q[i] == '\\' && quote != '`')
            {
                i++;
            }
            else if (q[i] == quote)
            {
                return i;
            }
        }

        return -1;
    }
}
