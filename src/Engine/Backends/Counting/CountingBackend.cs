using AccelAes.Engine.Tensors;
using AccelAes.Kernels;

namespace AccelAes.Engine.Backends.Counting;

/// <summary>Which GEMM engine the counted CUDA backend runs Linear and Conv2d on (it changes launches and bytes).</summary>
public enum CountedGemmEngine
{
    /// <summary>cuBLASLt with its BIAS / GELU epilogues: the product path (and the CPU emulator's fake cuBLASLt).</summary>
    CublasLt,
    /// <summary>gemm.cu, the fallback: bias and every activation in the GEMM's own epilogue.</summary>
    GemmCu,
}

/// <summary>
/// An <see cref="IBackend"/> that does no math and holds no device data: it follows every op's shapes and storage types as
/// the CUDA backend would, and counts what the CUDA backend's kernels would do — bytes read and written, GEMM and
/// attention FLOPs, kernel launches, device copies — in <see cref="Ledger"/>. A forward of a real configuration at 1024²
/// costs seconds on any machine. The counting rules, one per op, are in CountingBackend.Rules.cs.
/// </summary>
/// <remarks>
/// Bytes are the ideal traffic of each kernel: every input element read once and every output element written once, in the
/// storage type the CUDA backend uses (bf16 activations and weights, fp32 uploads, fp32 GEMM outputs where an unfused
/// activation follows). Caches are ignored, so a broadcast operand (a per-batch scale) counts once, and a GEMM's
/// re-reads of its tiles are not counted. That is the floor the kernels can approach, the right measure for the roofline.
/// </remarks>
public sealed partial class CountingBackend(CountedGemmEngine gemm = CountedGemmEngine.CublasLt) : IBackend
{
    public string Name => $"counting (CUDA rules, {GemmName})";

    public DType ActivationType => DType.BF16;

    public CountedGemmEngine GemmEngine { get; } = gemm;

    public TrafficLedger Ledger { get; } = new();

    /// <summary>
    /// What a read-back of a computed tensor returns (this backend computes no values): a caller that counts a
    /// value-dependent code path (a caching policy's distance, `bench --accounting --accel fbcache`) says what the device
    /// would have answered. Null: such a read-back throws. The copy is counted either way.
    /// </summary>
    public Func<CountingTensor, float[]>? ComputedReadBack { get; set; }

    private string GemmName => GemmEngine == CountedGemmEngine.CublasLt ? "cuBLASLt" : "gemm.cu";

    /// <summary>
    /// A weight of <paramref name="shape"/> with no bytes behind it (real configurations have billions of parameters): its
    /// values, if the host ever reads them, are a pseudo-random function of <paramref name="identity"/>, so two weights
    /// with the same identity compare equal and weights with different identities do not.
    /// </summary>
    public Tensor PlaceholderWeight(Shape shape, string identity)
    {
        int seed = identity.GetHashCode(StringComparison.Ordinal); // stable within the process: all that equality needs
        int n = shape.ElementCount;
        return new CountingTensor(this, shape, DType.BF16, "UploadWeight", () =>
        {
            var rng = new Random(seed);
            var values = new float[n];
            for (int i = 0; i < n; i++) values[i] = rng.NextSingle() * 2 - 1;
            return values;
        });
    }

    public void Dispose() { }

    // ---- helpers for the rules ------------------------------------------------------------------

    private CountingTensor New(Shape shape, DType dtype, string op) => new(this, shape, dtype, op);

    private static CountingTensor C(Tensor t, string op)
    {
        ArgumentNullException.ThrowIfNull(t);
        return t as CountingTensor ?? throw new ArgumentException($"{op}: tensor {t} is not a tensor of the counting backend.");
    }

    private static CountingTensor? Optional(Tensor? t, string op) => t is null ? null : C(t, op);

    /// <summary>One memory-bound kernel launch over <paramref name="elements"/> (none when 0: a zero grid is not launched).</summary>
    private void Kernel(string op, string kernel, long elements, long read, long written)
    {
        if (elements > 0) Ledger.Add(op, kernel, TrafficKind.MemoryBound, read, written, 0, 1);
    }

    /// <summary>A device-to-device memcpy or a memset: traffic, no kernel launch.</summary>
    private void DeviceCopy(string op, string what, long read, long written) => Ledger.Add(op, what, TrafficKind.DeviceCopy, read, written, 0, 0);

    private void HostCopy(string op, string what, long bytes) => Ledger.Add(op, what, TrafficKind.HostTransfer, 0, bytes, 0, 0);

    /// <summary>CudaBackend.Bf16: an F32 operand is converted to a bf16 temporary (one kernel: 4 bytes in, 2 out per element).</summary>
    private void ToBf16(string op, CountingTensor? t)
    {
        if (t is { DType: DType.F32 })
            Kernel(op, "convert_f32_to_bf16", t.ElementCount, 4L * t.ElementCount, 2L * t.ElementCount);
    }

    /// <summary>CudaBackend.F32: a bf16 operand an fp32 kernel needs is widened into a temporary.</summary>
    private void ToF32(string op, CountingTensor? t)
    {
        if (t is { DType: DType.BF16 })
            Kernel(op, "convert_bf16_to_f32", t.ElementCount, 2L * t.ElementCount, 4L * t.ElementCount);
    }

    /// <summary>Bytes of an operand read as bf16 (after <see cref="ToBf16"/>): 2 per element, 0 when absent.</summary>
    private static long Bf16Bytes(Tensor? t) => t is null ? 0 : 2L * t.ElementCount;

    /// <summary>Bytes of an operand read as fp32 (after <see cref="ToF32"/>).</summary>
    private static long F32Bytes(Tensor? t) => t is null ? 0 : 4L * t.ElementCount;

    /// <summary>The values of a tensor made from host data; op outputs have none.</summary>
    private float[] ValuesOf(CountingTensor t, string op)
    {
        if (t.HostIndices is { } indices) return Array.ConvertAll(indices, i => (float)i);
        return t.HostValues?.Invoke()
               ?? ComputedReadBack?.Invoke(t)
               ?? throw new NotSupportedException(
                   $"{op}: the counting backend computes no values, and {t} was made by {t.Producer}. Only tensors made from host data " +
                   "(uploads, weights, zeros) can be read back.");
    }

    private static float[] Decode(ReadOnlySpan<byte> bytes, DType source, int count)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++)
            values[i] = source switch
            {
                DType.F32 => BitConverter.ToSingle(bytes.Slice(4 * i, 4)),
                DType.F16 => (float)BitConverter.ToHalf(bytes.Slice(2 * i, 2)),
                _ => BFloat16Bits.ToSingle(BitConverter.ToUInt16(bytes.Slice(2 * i, 2))),
            };
        return values;
    }
}
