namespace AccelAes.Engine.Backends.Cuda;

/// <summary>Which strided copies go to the driver's 2D copy (shared by the CUDA backend and its counting rules).</summary>
public static class Copy2dPlan
{
    /// <summary>
    /// CU_DEVICE_ATTRIBUTE_MAX_PITCH: the largest pitch cuMemcpy2D accepts, 2³¹ − 1 bytes on every GPU the engine supports
    /// (sm_80 to sm_120); a wider row goes to the copy2d kernel.
    /// </summary>
    public const ulong MaxPitchBytes = int.MaxValue;

    public static bool FitsDriverPitch(ulong sourcePitchBytes, ulong destinationPitchBytes) =>
        sourcePitchBytes <= MaxPitchBytes && destinationPitchBytes <= MaxPitchBytes;
}
