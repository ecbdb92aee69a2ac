namespace RollbackSentinel.Web.Plots;

/// <summary>Maps a value domain onto a pixel range linearly; the range may run backwards (y grows downwards).</summary>
internal sealed class LinearScale
{
    private readonly double _factor;
    private readonly bool _halved;

    public LinearScale(double domainMin, double domainMax, double rangeFrom, double rangeTo)
    {
        if (!(domainMax > domainMin))
        {
            throw new ArgumentException($"empty domain {domainMin}..{domainMax}", nameof(domainMax));
        }

        DomainMin = domainMin;
        DomainMax = domainMax;
        RangeFrom = rangeFrom;
        RangeTo = rangeTo;
        _factor = (rangeTo - rangeFrom) / (domainMax - domainMin);
        if (!double.IsFinite(domainMax - domainMin))
        {
            // A domain so wide its length overflows: map through halves, which cannot overflow.
            _factor = (rangeTo - rangeFrom) / ((domainMax / 2) - (domainMin / 2));
            _halved = true;
        }
    }

    public double DomainMin { get; }

    public double DomainMax { get; }

    public double RangeFrom { get; }

    public double RangeTo { get; }

    public double Map(double value) =>
        _halved ? RangeFrom + (((value / 2) - (DomainMin / 2)) * _factor) : RangeFrom + ((value - DomainMin) * _factor);
}
