namespace RollbackSentinel.Testing;

/// <summary>How one attempt to start a server process ended (the fixtures retry on another port when it was taken).</summary>
internal enum StartOutcome
{
    Ready,
    PortTaken,
    Exited,
    TimedOut,
}

/// <summary>What the server fixtures (Prometheus, HAProxy) share once their process is gone.</summary>
internal static class ServerProcesses
{
    /// <summary>Deletes a fixture's temporary folder; a just-killed process may still be releasing files, so it tries three times.</summary>
    public static async Task DeleteDirectoryAsync(DirectoryInfo directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                directory.Refresh();
                if (directory.Exists)
                {
                    directory.Delete(recursive: true);
                }

                return;
            }
            catch (IOException) when (attempt < 3)
            {
                await Task.Delay(100);
            }
        }
    }
}
