using AccelAes.Kernels.Interop;

namespace AccelAes.Kernels.Tests;

public class DetectionTests
{
    [Fact]
    public void Detect_OnAMachineWithoutGpu_ReportsTheFailedCheckCleanly()
    {
        var detection = CudaDevice.Detect();
        if (detection.IsAvailable)
        {
            Assert.NotEmpty(detection.Devices);
            Assert.Null(detection.FailedCheck);
            return;
        }
        Assert.NotNull(detection.FailedCheck);
        Assert.False(string.IsNullOrWhiteSpace(detection.Reason));
        Assert.Contains(detection.Reason, detection.Summary);
        Assert.Empty(detection.Devices);
        if (detection.Status == GpuStatus.DriverLibraryNotFound)
        {
            Assert.Equal(GpuCheck.DriverLoads, detection.FailedCheck);
            Assert.Contains("libcuda not found", detection.Reason);
            foreach (var name in NativeLibraries.CandidateNames(CudaLibrary.Driver))
                Assert.Contains(name, detection.Reason);
        }
    }

    private static LibraryLoadResult Missing() =>
        new(CudaLibrary.Driver, 0, null, null, [new LibraryAttempt("libcuda.so.1", false, "cannot open shared object file")], null);

    private static LibraryLoadResult Loaded() =>
        new(CudaLibrary.Driver, 1, "libcuda.so.1", "/usr/lib/x86_64-linux-gnu/libcuda.so.1", [new LibraryAttempt("libcuda.so.1", false, null)], null);

    [Fact]
    public void Evaluate_NoLibrary_FailsCheck1()
    {
        var d = CudaDevice.Evaluate(Missing(), null, null, null, null);
        Assert.Equal(GpuStatus.DriverLibraryNotFound, d.Status);
        Assert.Equal(GpuCheck.DriverLoads, d.FailedCheck);
        Assert.Contains("libcuda.so.1", d.Reason);
    }

    [Fact]
    public void Evaluate_StubLibrary_IsReportedAsSuch()
    {
        var d = CudaDevice.Evaluate(Loaded(), null, CuResult.CUDA_ERROR_STUB_LIBRARY, null, null);
        Assert.Equal(GpuStatus.StubLibrary, d.Status);
        Assert.Equal(GpuCheck.InitSucceeds, d.FailedCheck);
        Assert.Contains("stub", d.Reason);
        Assert.Contains("CUDA_ERROR_STUB_LIBRARY", d.Reason);
        Assert.Contains("/usr/lib/x86_64-linux-gnu/libcuda.so.1", d.Reason);
    }

    [Theory]
    [InlineData(CuResult.CUDA_ERROR_NO_DEVICE, GpuStatus.NoDevice)]
    [InlineData(CuResult.CUDA_ERROR_UNKNOWN, GpuStatus.InitFailed)]
    [InlineData(CuResult.CUDA_ERROR_SYSTEM_DRIVER_MISMATCH, GpuStatus.InitFailed)]
    public void Evaluate_InitFailure_FailsCheck2(CuResult init, GpuStatus expected)
    {
        var d = CudaDevice.Evaluate(Loaded(), 12040, init, null, null);
        Assert.Equal(expected, d.Status);
        Assert.Equal(GpuCheck.InitSucceeds, d.FailedCheck);
        Assert.Contains(StatusNames.Driver((int)init), d.Reason);
        Assert.Equal("12.4", d.DriverVersionText);
    }

    [Fact]
    public void Evaluate_ZeroDevices_FailsCheck3()
    {
        var d = CudaDevice.Evaluate(Loaded(), 12040, CuResult.CUDA_SUCCESS, 0, []);
        Assert.Equal(GpuStatus.NoDevice, d.Status);
        Assert.Equal(GpuCheck.DeviceExists, d.FailedCheck);
    }

    [Fact]
    public void Evaluate_OneDevice_IsAvailable()
    {
        var device = new CudaDeviceInfo(0, "NVIDIA H100", new ComputeCapability(9, 0), 132, 80UL << 30, 1_980_000, 2_619_000, 5120, 50 << 20, 1024, 232_448);
        var d = CudaDevice.Evaluate(Loaded(), 12040, CuResult.CUDA_SUCCESS, 1, [device]);
        Assert.True(d.IsAvailable);
        Assert.Null(d.FailedCheck);
        Assert.Contains("sm_90", d.Summary);
        Assert.Equal(90, device.ComputeCapability.Architecture);
        // 2 × 2.619 GHz × 5120 bit / 8 ≈ 3.35 TB/s (H100 SXM's HBM3 figure).
        Assert.InRange(device.PeakMemoryBandwidthBytesPerSecond!.Value, 3.3e12, 3.4e12);
    }

    [Fact]
    public void GpuStatusNumbers_AreStable()
    {
        // The CLI turns these into exit codes; renumbering them would change documented behaviour.
        Assert.Equal(0, (int)GpuStatus.Available);
        Assert.Equal(1, (int)GpuStatus.DriverLibraryNotFound);
        Assert.Equal(2, (int)GpuStatus.StubLibrary);
        Assert.Equal(3, (int)GpuStatus.InitFailed);
        Assert.Equal(4, (int)GpuStatus.NoDevice);
    }
}
