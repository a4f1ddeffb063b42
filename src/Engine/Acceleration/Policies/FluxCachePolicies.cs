using AccelAes.Engine.Acceleration.FirstBlockCache;
using AccelAes.Engine.Acceleration.Fora;
using AccelAes.Engine.Acceleration.TeaCache;

namespace AccelAes.Engine.Acceleration.Policies;

/// <summary>The caching policy a validated set of options asks for on FLUX, or null when it asks for none.</summary>
public static class FluxCachePolicies
{
    public static IFluxCachePolicy? For(AccelerationOptions options, int steps) => options.Preset switch
    {
        AccelerationPreset.TeaCache => new FluxTeaCache(options.RelL1Threshold, steps),
        AccelerationPreset.FbCache => new FluxFirstBlockCache(options.ResidualDiffThreshold, options.Warmup),
        AccelerationPreset.Fora => new FluxFora(new ForaSchedule(options.Interval, steps)),
        _ => null,
    };
}
