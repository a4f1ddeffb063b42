using System.Runtime.InteropServices;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Tensors;
using AccelAes.Kernels;
using AccelAes.Kernels.Interop;
using static AccelAes.Engine.Tests.Cuda.CudaTestTensors;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// The elementwise and layout kernels vectorised in issue 16 (16-byte accesses, 32-bit indices; vec.cuh) compute the
/// scalar loops' math element by element, so their results equal, bit for bit, the CPU's fp32 result on the same
/// bf16 inputs rounded once to the output type. Sizes cover the vector path with a tail (n = 8k + r) and the scalar
/// path (broadcast rows or feature widths not a multiple of 8). Exact on the emulator; a real GPU may contract a
/// multiply-add into an fma, so Modulate there is only held to the op harness's bf16 rule.
/// </summary>
[Collection(CudaDeviceCollection.Name)]
public class CudaVectorisedKernelTests(CudaFixture fixture) : IClassFixture<CudaFixture>
{
    private CpuBackend Cpu => fixture.Cpu;

    private CudaBackend Gpu()
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        return fixture.Backend!;
    }

    private static float[] Bf16Values(int n, int seed) => TestData.Random(n, seed, -3f, 3f).Select(BFloat16Bits.Round).ToArray();

    private static Tensor Bf16(CudaBackend gpu, float[] values, params int[] dims) =>
        gpu.UploadWeight(MemoryMarshal.AsBytes(values.AsSpan()), DType.F32, new Shape(dims));

    private static float[] RoundAll(float[] v) => v.Select(BFloat16Bits.Round).ToArray();

    public static TheoryData<int[], int[]> BroadcastShapes => new()
    {
        { [3, 7, 16], [16] },        // vector path, broadcast rows of 16
        { [5, 13], [5, 13] },        // same shape, 65 elements: 8 groups and a tail of 1
        { [4, 9, 3], [9, 3] },       // rows of 27: the scalar path
        { [2, 1001], [2, 1001] },    // same shape, 2002 elements: a tail of 2
    };

    [SkippableTheory]
    [MemberData(nameof(BroadcastShapes))]
    public void Add_and_multiply_in_bf16_and_f32_equal_the_scalar_math(int[] a, int[] b)
    {
        var gpu = Gpu();
        int na = new Shape(a).ElementCount, nb = new Shape(b).ElementCount;
        float[] av = Bf16Values(na, 1), bv = Bf16Values(nb, 2);
        var (ga, gb) = (Bf16(gpu, av, a), Bf16(gpu, bv, b));
        var (ca, cb) = (Cpu.Upload(av, new Shape(a)), Cpu.Upload(bv, new Shape(b)));
        AssertSameBits(RoundAll(Cpu.Download(Cpu.Add(ca, cb))), gpu.Download(gpu.Add(ga, gb)), "add_broadcast_bf16");
        AssertSameBits(RoundAll(Cpu.Download(Cpu.Multiply(ca, cb))), gpu.Download(gpu.Multiply(ga, gb)), "mul_broadcast_bf16");
        // All-F32 operands run the f32 kernels: fp32 results, no rounding.
        var (fa, fb) = (gpu.Upload(av, new Shape(a)), gpu.Upload(bv, new Shape(b)));
        AssertSameBits(Cpu.Download(Cpu.Add(ca, cb)), gpu.Download(gpu.Add(fa, fb)), "add_broadcast_f32");
        AssertSameBits(Cpu.Download(Cpu.Multiply(ca, cb)), gpu.Download(gpu.Multiply(fa, fb)), "mul_broadcast_f32");
    }

    [SkippableTheory]
    [InlineData(1000)]
    [InlineData(1003)]
    [InlineData(5)]
    public void Scale_relu_and_the_conversions_equal_the_scalar_math(int n)
    {
        var gpu = Gpu();
        float[] v = Bf16Values(n, 3);
        var g = Bf16(gpu, v, n);
        var c = Cpu.Upload(v, new Shape(n));
        AssertSameBits(RoundAll(Cpu.Download(Cpu.Scale(c, -1.7f))), gpu.Download(gpu.Scale(g, -1.7f)), "scale_bf16");
        AssertSameBits(RoundAll(Cpu.Download(Cpu.Relu(c))), gpu.Download(gpu.Relu(g)), "relu_bf16");
        var f = gpu.Upload(v, new Shape(n));
        AssertSameBits(Cpu.Download(Cpu.Scale(c, -1.7f)), gpu.Download(gpu.Scale(f, -1.7f)), "scale_f32");
        // convert_f32_to_bf16 (UploadWeight of fp32 bytes) and convert_bf16_to_f32 (Download) round-trip to the host's rounding.
        float[] raw = TestData.Random(n, 4, -1e3f, 1e3f);
        AssertSameBits(RoundAll(raw), gpu.Download(Bf16(gpu, raw, n)), "convert_f32_to_bf16");
        ushort[] halves = raw.Select(x => BitConverter.HalfToUInt16Bits((Half)x)).ToArray();
        float[] fromHalves = halves.Select(h => BFloat16Bits.ToSingle(BFloat16Bits.FromHalfBits(h))).ToArray();
        AssertSameBits(fromHalves, gpu.Download(gpu.UploadWeight(MemoryMarshal.AsBytes(halves.AsSpan()), DType.F16, new Shape(n))), "convert_f16_to_bf16");
    }

    [SkippableTheory]
    [InlineData(24)]  // the vector path
    [InlineData(20)]  // features not a multiple of 8: the scalar path
    public void Modulate_equals_the_scalar_math(int d)
    {
        var gpu = Gpu();
        Skip.IfNot(FakeCudaOnly(), "a real GPU's compiler may contract x·(1 + scale) + shift into an fma; the op harness covers it there");
        int batch = 2, seq = 5;
        float[] x = Bf16Values(batch * seq * d, 5), sc = Bf16Values(batch * d, 6), sh = Bf16Values(batch * d, 7);
        var expected = RoundAll(Cpu.Download(Cpu.Modulate(Cpu.Upload(x, new Shape(batch, seq, d)), Cpu.Upload(sc, new Shape(batch, d)), Cpu.Upload(sh, new Shape(batch, d)))));
        var got = gpu.Download(gpu.Modulate(Bf16(gpu, x, batch, seq, d), Bf16(gpu, sc, batch, d), Bf16(gpu, sh, batch, d)));
        AssertSameBits(expected, got, "modulate_bf16");
    }

    [SkippableTheory]
    [InlineData(16, false)]  // 32-byte bf16 rows: 16-byte chunks
    [InlineData(12, true)]   // 48-byte f32 rows: 16-byte chunks
    [InlineData(6, false)]   // 12-byte rows: the element path
    public void Gather_and_scatter_rows_move_the_same_values(int d, bool f32)
    {
        var gpu = Gpu();
        int rows = 9;
        float[] table = Bf16Values(rows * d, 8);
        int[] idx = [4, 0, 8, 2];
        var gt = f32 ? gpu.Upload(table, new Shape(rows, d)) : Bf16(gpu, table, rows, d);
        var ct = Cpu.Upload(table, new Shape(rows, d));
        var gathered = gpu.GatherRows(gt, gpu.UploadIndices(idx, new Shape(idx.Length)));
        AssertSameBits(Cpu.Download(Cpu.GatherRows(ct, Cpu.UploadIndices(idx, new Shape(idx.Length)))), gpu.Download(gathered), "gather_rows");
        float[] src = Bf16Values(idx.Length * d, 9);
        var gs = f32 ? gpu.Upload(src, new Shape(idx.Length, d)) : Bf16(gpu, src, idx.Length, d);
        gpu.ScatterRowsInPlace(gt, gpu.UploadIndices(idx, new Shape(idx.Length)), gs);
        Cpu.ScatterRowsInPlace(ct, Cpu.UploadIndices(idx, new Shape(idx.Length)), Cpu.Upload(src, new Shape(idx.Length, d)));
        AssertSameBits(Cpu.Download(ct), gpu.Download(gt), "scatter_rows");
    }

    private static bool FakeCudaOnly() =>
        NativeLibrary.TryGetExport(NativeLibraries.Load(CudaLibrary.Driver).Handle, "fake_cuda_counters", out _);
}
