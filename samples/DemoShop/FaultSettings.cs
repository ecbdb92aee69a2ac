namespace DemoShop;

/// <summary>
/// The faults the shop is asked to simulate: a share of requests answered with HTTP 500, and extra latency
/// added to every request. Starts from <c>DEMO_ERROR_RATE</c> (0..1) and <c>DEMO_LATENCY_MS</c>; changed at
/// run time by <c>POST /admin/fault</c> and cleared by <c>DELETE /admin/fault</c>.
/// </summary>
public sealed class FaultSettings
{
    private readonly Lock _gate = new();
    private double _errorRate;
    private int _latencyMs;

    public double ErrorRate
    {
        get
        {
            lock (_gate)
            {
                return _errorRate;
            }
        }
    }

    public int LatencyMs
    {
        get
        {
            lock (_gate)
            {
                return _latencyMs;
            }
        }
    }

    /// <summary>Sets both values, or returns why they are not valid (and changes nothing).</summary>
    public string? TrySet(double errorRate, int latencyMs)
    {
        if (!double.IsFinite(errorRate) || errorRate is < 0 or > 1)
        {
            return $"errorRate must be between 0 and 1, got {errorRate.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
        }

        if (latencyMs is < 0 or > 60_000)
        {
            return $"latencyMs must be between 0 and 60000, got {latencyMs.ToString(System.Globalization.CultureInfo.InvariantCulture)}";
        }

        lock (_gate)
        {
            _errorRate = errorRate;
            _latencyMs = latencyMs;
        }

        return null;
    }

    /// <summary>The faults as the admin endpoint shows them.</summary>
    public object Snapshot()
    {
        lock (_gate)
        {
            return new { errorRate = _errorRate, latencyMs = _latencyMs };
        }
    }
}
