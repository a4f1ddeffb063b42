using AccelAes.Kernels.Interop;

namespace AccelAes.Kernels.Tests;

/// <summary>
/// Visible skips for tests that need a native library. Where CI installs the library (NVRTC), its absence
/// under CI=... is a failure, not a skip: a CI run that silently compiled nothing would prove nothing.
/// </summary>
internal static class Requirements
{
    public static bool InCi => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI"));

    /// <summary>Skips (locally) or fails (CI) unless NVRTC loaded; the message names every file tried.</summary>
    public static void Nvrtc()
    {
        var result = NativeLibraries.Load(CudaLibrary.Nvrtc);
        if (result.IsLoaded)
            return;
        var message = "NVRTC not available, kernel compile tests skipped.\n" + result.Describe();
        if (InCi)
            Assert.Fail("CI is set, and CI must have NVRTC (.ci/install-nvrtc.sh): " + message);
        Skip.If(true, message);
    }
}
