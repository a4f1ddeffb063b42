using System.Runtime.InteropServices;
using System.Text;
using AccelAes.Kernels;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// The CPU emulator's knobs set from a test (fake_cuda_configure: FAKE_CUDA_CC, FAKE_CUDA_DRIVER_VERSION,
/// FAKE_CUDA_REFUSE_IMAGES) for the rest of a using block. Skips the test on a real driver, which has no knobs.
/// </summary>
internal static unsafe class EmulatorKnobs
{
    /// <summary>The emulator's fake_cuda_configure, or a skip (no driver, a real driver, or no NVRTC).</summary>
    public static delegate* unmanaged<byte*, byte*, int> Configure()
    {
        var driver = NativeLibraries.Load(CudaLibrary.Driver);
        CudaTests.SkipUnless(driver.IsLoaded && CudaDevice.Detect().IsAvailable, $"no GPU: {CudaDevice.Detect().Reason}");
        Skip.If(!NativeLibrary.TryGetExport(driver.Handle, "fake_cuda_configure", out var export),
            "tests the CPU emulator's driver (a real driver is what it imitates)");
        var nvrtc = NativeLibraries.Load(CudaLibrary.Nvrtc);
        CudaTests.SkipUnless(nvrtc.IsLoaded, "no NVRTC: " + nvrtc.Describe());
        return (delegate* unmanaged<byte*, byte*, int>)export;
    }

    /// <summary>Sets knob <paramref name="name"/> until disposed (then the environment's value again).</summary>
    public static IDisposable Set(string name, string value)
    {
        var configure = Configure();
        Apply(configure, name, value);
        return new Restore(() => Apply(configure, name, null));
    }

    private static void Apply(delegate* unmanaged<byte*, byte*, int> configure, string name, string? value)
    {
        var n = Encoding.ASCII.GetBytes(name + "\0");
        var v = value is null ? null : Encoding.ASCII.GetBytes(value + "\0");
        fixed (byte* np = n)
        fixed (byte* vp = v)
            Assert.Equal(0, configure(np, vp));
    }

    private sealed class Restore(Action action) : IDisposable
    {
        public void Dispose() => action();
    }
}
