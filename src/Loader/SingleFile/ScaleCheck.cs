using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.SingleFile;

/// <summary>A per-tensor fp8 scale must be one float element (shape [] as ComfyUI writes it, or [1]).</summary>
internal static class ScaleCheck
{
    public static void RequireScalar(SafeTensorInfo scale, string key, string source)
    {
        if (scale.ElementCount != 1 || !DTypeConversion.CanConvertToFloat32(scale.DType))
            throw new AccelAesException(
                $"{source}: scale tensor '{key}' must hold one float (shape [] or [1]), but it is {scale.DType.HeaderName()} [{string.Join(", ", scale.Shape)}].");
    }
}
