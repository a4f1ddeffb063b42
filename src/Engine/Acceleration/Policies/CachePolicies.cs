using AccelAes.Engine.Acceleration.DeltaDit;
using AccelAes.Engine.Acceleration.FirstBlockCache;
using AccelAes.Engine.Acceleration.Fora;
using AccelAes.Engine.Acceleration.Ras;
using AccelAes.Engine.Acceleration.TaylorSeer;
using AccelAes.Engine.Acceleration.TeaCache;

namespace AccelAes.Engine.Acceleration.Policies;

/// <summary>The caching policy a validated set of options asks for, or null when it asks for none.</summary>
public static class CachePolicies
{
    public static ICachePolicy? For(AccelerationOptions options, int steps) => options.Preset switch
    {
        AccelerationPreset.TeaCache => new TeaCachePolicy(options.EffectiveRelL1Threshold, steps, options.TeaCacheRescale),
        AccelerationPreset.FbCache => new FirstBlockCachePolicy(options.ResidualDiffThreshold, options.Warmup),
        AccelerationPreset.Fora => new ForaPolicy(new ForaSchedule(options.Interval, steps)),
        AccelerationPreset.TaylorSeer => new TaylorSeerPolicy(new TaylorSeerSchedule(options.Interval, options.Warmup, steps), options.TaylorOrder),
        AccelerationPreset.DeltaDit => new DeltaDitPolicy(
            new DeltaDitSchedule(options.Interval, options.DeltaDitCachedBlocks, options.DeltaDitBoundaryStep, steps)),
        AccelerationPreset.Ras => new RasPolicy(options.Ras, steps),
        _ => null,
    };
}
