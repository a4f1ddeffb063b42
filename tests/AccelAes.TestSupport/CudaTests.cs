namespace AccelAes.TestSupport;

/// <summary>
/// Whether the CUDA tests may skip. They skip (with the detection reason) where there is no GPU, except when
/// <c>ACCELAES_REQUIRE_CUDA=1</c>: the build's emulator pass (build.cake, Test target) sets it with
/// <c>ACCELAES_CUDA_LIB_DIR</c> pointing at the CPU emulator, so a driver that fails to load or a missing NVRTC
/// fails the run instead of turning every CUDA test into a skip.
/// </summary>
public static class CudaTests
{
    public const string RequireVariable = "ACCELAES_REQUIRE_CUDA";

    public static bool Required => Environment.GetEnvironmentVariable(RequireVariable) == "1";

    /// <summary>Skips the test with <paramref name="reason"/> unless <paramref name="available"/>; fails instead when required.</summary>
    public static void SkipUnless(bool available, string? reason)
    {
        if (available)
            return;
        if (Required)
            throw new InvalidOperationException($"{RequireVariable}=1 but the CUDA tests cannot run: {reason} " +
                $"(ACCELAES_CUDA_LIB_DIR={Environment.GetEnvironmentVariable("ACCELAES_CUDA_LIB_DIR")})");
        Skip.If(true, reason);
    }
}
