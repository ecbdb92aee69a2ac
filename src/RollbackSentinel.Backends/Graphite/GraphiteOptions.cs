namespace RollbackSentinel.Backends.Graphite;

/// <summary>
/// Where graphite-web is and how to talk to it. <see cref="BackendOptions.BaseAddress"/> is graphite-web's root (the
/// address that serves <c>/render</c>); a path prefix is kept. <see cref="BackendOptions.Lookback"/> is how old a
/// point may be and still be the value at an instant: keep it at least one storage step (a 1-minute retention needs
/// more than 1 minute).
/// </summary>
public sealed record GraphiteOptions : BackendOptions
{
    public GraphiteOptions()
    {
        LimitsKey = "backends.graphite.limits";
    }
}
