using System.Runtime.InteropServices;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Tensors;
using AccelAes.Kernels;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// Strided layout copies (Concat of inner axes, Slice, LinearInto's activation copy) go through the driver's 2D copy
/// (cuMemcpy2DAsync) instead of the copy2d kernel (issue 16), and fall back to the kernel when the driver refuses the
/// pitches. Both paths move the same bits. Counted with the emulator's driver counters, so these run on the emulator only.
/// </summary>
[Collection(CudaDeviceCollection.Name)]
public class CudaCopy2dTests(CudaFixture fixture) : IClassFixture<CudaFixture>
{
    private static unsafe long Memcpy2dCount()
    {
        var driver = NativeLibraries.Load(CudaLibrary.Driver);
        Skip.If(!NativeLibrary.TryGetExport(driver.Handle, "fake_cuda_memcpy2d_count", out var export), "counts the CPU emulator's driver calls");
        return ((delegate* unmanaged<long>)export)();
    }

    /// <summary>Concat along axis 1 of [2, 3, 4] and [2, 5, 4] (two strided parts), then a strided Slice of the result.</summary>
    private static float[] ConcatThenSlice(CudaBackend gpu)
    {
        var a = gpu.UploadWeight(MemoryMarshal.AsBytes(TestData.Random(24, 1).AsSpan()), DType.F32, new Shape(2, 3, 4));
        var b = gpu.UploadWeight(MemoryMarshal.AsBytes(TestData.Random(40, 2).AsSpan()), DType.F32, new Shape(2, 5, 4));
        return gpu.Download(gpu.Slice(gpu.Concat(1, a, b), 2, 1, 2));
    }

    private float[] CpuConcatThenSlice()
    {
        var cpu = fixture.Cpu;
        var a = cpu.Upload(Round(TestData.Random(24, 1)), new Shape(2, 3, 4));
        var b = cpu.Upload(Round(TestData.Random(40, 2)), new Shape(2, 5, 4));
        return cpu.Download(cpu.Slice(cpu.Concat(1, a, b), 2, 1, 2));
    }

    private static float[] Round(float[] values) => values.Select(v => BFloat16Bits.ToSingle(BFloat16Bits.FromSingle(v))).ToArray();

    [SkippableFact]
    public void Strided_copies_are_driver_2d_copies_without_kernel_launches_and_move_the_cpus_values()
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        using var gpu = new CudaBackend(new CudaBackendOptions { PoisonNewTensors = true, SynchronizeEachOp = true });
        ConcatThenSlice(gpu); // compiles and loads what the run needs, outside the counts
        long copiesBefore = Memcpy2dCount(), launchesBefore = EmulatorCounters.Read()!.Launches;
        float[] got = ConcatThenSlice(gpu);
        // Two Concat parts and one Slice; the only kernels are the two weights' fp32 → bf16 conversions.
        Assert.Equal(3, Memcpy2dCount() - copiesBefore);
        Assert.Equal(2, EmulatorCounters.Read()!.Launches - launchesBefore);
        Assert.True(gpu.UsesDriver2dCopies);
        Assert.Equal(CpuConcatThenSlice(), got);
    }

    [SkippableFact]
    public void A_refused_2d_copy_falls_back_to_the_copy2d_kernel_with_the_same_bits_and_stays_there()
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        using var refuse = EmulatorKnobs.Set("FAKE_CUDA_REFUSE_MEMCPY2D", "1");
        using var gpu = new CudaBackend(new CudaBackendOptions { PoisonNewTensors = true, SynchronizeEachOp = true });
        ConcatThenSlice(gpu);
        Assert.False(gpu.UsesDriver2dCopies);
        long copiesBefore = Memcpy2dCount(), launchesBefore = EmulatorCounters.Read()!.Launches;
        float[] got = ConcatThenSlice(gpu);
        Assert.Equal(0, Memcpy2dCount() - copiesBefore);
        Assert.Equal(2 + 3, EmulatorCounters.Read()!.Launches - launchesBefore);
        Assert.Equal(CpuConcatThenSlice(), got);
    }
}
