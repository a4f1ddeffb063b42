using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Counting;

/// <summary>
/// The counting rules: one member per op, each the CUDA backend's op (src/Engine/Backends/Cuda/CudaBackend.*.cs) reduced to
/// what it launches and moves. Keep them in step with it: the emulator test (CountingBackendEmulatorTests) compares the
/// launches op by op with the driver's counter on tiny SD3, FLUX and Lumina forwards.
/// </summary>
/// <remarks>
/// Conventions, as in CudaBackend: outputs are BF16 except where noted; an F32 operand of a bf16 kernel is first
/// converted (<see cref="ToBf16"/>: one launch, 6 bytes per element); a launch over zero elements does not happen.
/// n is the output's element count; "2n" reads n bf16 elements. GEMM FLOPs are 2·M·N·K, attention FLOPs
/// 2·B·Hq·Sq·Sk·(D + Dv) (QKᵀ and P·V, FlashAttention's count; masks and causality not subtracted).
/// </remarks>
public sealed partial class CountingBackend
{
    // ---- Memory: host copies and memsets ------------------------------------------------------------

    /// <summary>F32 tensor; one host→device copy of 4n bytes.</summary>
    public Tensor Upload(ReadOnlySpan<float> values, Shape shape)
    {
        if (values.Length != shape.ElementCount) throw new ArgumentException($"{values.Length} values do not fill shape {shape}.");
        float[] copy = values.ToArray();
        HostCopy("Upload", "host→device", 4L * copy.Length);
        return new CountingTensor(this, shape, DType.F32, "Upload", () => copy);
    }

    /// <summary>
    /// BF16 weight. F32/F16 sources go through pinned staging in chunks (PinnedStaging, default chunk size), each chunk
    /// converted on the device by one launch. The values are kept for the host logic.
    /// </summary>
    public Tensor UploadWeight(ReadOnlySpan<byte> bytes, DType source, Shape shape)
    {
        float[] values = Decode(bytes, source, shape.ElementCount);
        HostCopy("UploadWeight", "host→device", bytes.Length);
        if (source != DType.BF16)
        {
            int size = source == DType.F32 ? 4 : 2;
            long chunk = Math.Max(4096L, (long)DefaultStagingChunkBytes / 16 * 16) / size * size;
            for (long offset = 0; offset < bytes.Length; offset += chunk)
            {
                long part = Math.Min(chunk, bytes.Length - offset);
                Kernel("UploadWeight", source == DType.F32 ? "convert_f32_to_bf16" : "convert_f16_to_bf16", part / size, part, 2 * (part / size));
            }
        }
        return new CountingTensor(this, shape, DType.BF16, "UploadWeight", () => values);
    }

    private static readonly ulong DefaultStagingChunkBytes = new CudaBackendOptions().StagingChunkBytes;

    /// <summary>BF16 zeros: one memset.</summary>
    public Tensor Zeros(Shape shape)
    {
        int n = shape.ElementCount;
        DeviceCopy("Zeros", "memset", 0, 2L * n);
        return new CountingTensor(this, shape, DType.BF16, "Zeros", () => new float[n]);
    }

    /// <summary>Pool memory handed over as it is: no copy, no memset, no launch.</summary>
    public Tensor Allocate(Shape shape) => New(shape, DType.BF16, "Allocate");

    public Tensor UploadIndices(ReadOnlySpan<int> values, Shape shape)
    {
        if (values.Length != shape.ElementCount) throw new ArgumentException($"{values.Length} indices do not fill shape {shape}.");
        HostCopy("UploadIndices", "host→device", 4L * values.Length);
        return new CountingTensor(this, shape, DType.I32, "UploadIndices", hostIndices: values.ToArray());
    }

    /// <summary>Device→host copy (the values exist only for tensors made from host data).</summary>
    public float[] Download(Tensor tensor)
    {
        var t = C(tensor, "Download");
        float[] values = ValuesOf(t, "Download");
        HostCopy("Download", "device→host", t.ByteCount);
        return values;
    }

    // ---- Linear algebra ---------------------------------------------------------------------------

    /// <summary>
    /// cuBLASLt: no activation or GeluTanh → one matmul with the BIAS/GELU epilogue writing bf16; any other activation →
    /// the matmul writes fp32 (4 bytes per output) and <c>activate_f32_to_bf16</c> adds the bias, activates and rounds
    /// (a second launch, memory-bound). gemm.cu: one launch, bias and activation fused. A cuBLASLt matmul is counted as one
    /// launch (split-K algorithms with a separate reduction kernel would add one; the heuristic's choice is not known here).
    /// </summary>
    public Tensor Linear(Tensor x, Tensor weight, Tensor? bias, Activation activation = Activation.None)
    {
        var cx = C(x, "Linear");
        var cw = C(weight, "Linear");
        var cb = Optional(bias, "Linear");
        if (weight.Shape.Rank != 2 || x.Shape.Last != weight.Shape[1])
            throw new ArgumentException($"Linear: input {x.Shape} does not fit weight {weight.Shape}.");
        long m = x.Shape.Rows, n = weight.Shape[0], k = weight.Shape[1];
        int[] dims = x.Shape.ToArray();
        dims[^1] = (int)n;
        var y = New(new Shape(dims), DType.BF16, "Linear");
        if (y.ElementCount == 0) return y;
        if (m == 0)
        {
            DeviceCopy("Linear", "memset", 0, y.ByteCount); // K = 0: zeros
            return y;
        }
        CountGemm("Linear", cx, cw, cb, activation, m, n, k, slice: false);
        return y;
    }

    /// <summary>
    /// As <see cref="Linear"/>, the GEMM writing the destination's column slice in place (cuBLASLt's D leading dimension,
    /// gemm.cu's output stride): no output tensor and no copy. The exception, as in CudaBackend: cuBLASLt with an activation
    /// it has no epilogue for writes fp32, activate_f32_to_bf16 a dense bf16 temporary, and copy2d moves it into the slice.
    /// K = 0: a memset of a dense temporary and its copy2d.
    /// </summary>
    public void LinearInto(Tensor destination, int columnOffset, Tensor x, Tensor weight, Tensor? bias, Activation activation = Activation.None)
    {
        var cd = C(destination, "LinearInto");
        var cx = C(x, "LinearInto");
        var cw = C(weight, "LinearInto");
        var cb = Optional(bias, "LinearInto");
        if (weight.Shape.Rank != 2 || x.Shape.Last != weight.Shape[1])
            throw new ArgumentException($"LinearInto: input {x.Shape} does not fit weight {weight.Shape}.");
        long n = weight.Shape[0], k = weight.Shape[1];
        long m = x.Shape.ToArray()[..^1].Aggregate(1L, (a, b) => a * b);
        ColumnSlice.Check("LinearInto", cd, columnOffset, (int)n, m);
        if (m * n == 0) return;
        if (k == 0)
        {
            DeviceCopy("LinearInto", "memset", 0, 2 * m * n);
            Copy2d("LinearInto", m, n, srcStride: n, dstStride: destination.Shape.Last, 2);
            return;
        }
        CountGemm("LinearInto", cx, cw, cb, activation, m, n, k, slice: n != destination.Shape.Last);
    }

    /// <summary>The conversions, the GEMM and (cuBLASLt with an activation it cannot fuse) the activation pass of a Linear.</summary>
    private void CountGemm(string op, CountingTensor cx, CountingTensor cw, CountingTensor? cb, Activation activation, long m, long n, long k, bool slice)
    {
        ToBf16(op, cx);
        ToBf16(op, cw);
        ToBf16(op, cb);
        long operands = 2 * m * k + 2 * n * k + Bf16Bytes(cb);
        double flops = 2.0 * m * n * k;
        bool epilogueFused = GemmEngine == CountedGemmEngine.GemmCu || activation is Activation.None or Activation.GeluTanh;
        if (epilogueFused)
        {
            Ledger.Add(op, GemmEngine == CountedGemmEngine.CublasLt ? "cuBLASLt matmul" : "gemm_bf16", TrafficKind.Gemm,
                operands, 2 * m * n, flops, 1);
            return;
        }
        Ledger.Add(op, "cuBLASLt matmul (fp32 out)", TrafficKind.Gemm, 2 * m * k + 2 * n * k, 4 * m * n, flops, 1);
        Kernel(op, "activate_f32_to_bf16", m * n, 4 * m * n + Bf16Bytes(cb), 2 * m * n);
        if (slice)
            Copy2d(op, m, n, srcStride: n, dstStride: n + 1, 2); // any stride above n: a strided copy, not a memcpy
    }

    public Tensor Attention(Tensor q, Tensor k, Tensor v, float scale, Tensor? keyMask = null, bool causal = false, Tensor? bias = null) =>
        AttentionCore("Attention", q, k, v, keyMask, bias, keyWeights: null, causal: causal).Output;

    /// <summary>As <see cref="Attention"/>, the kernel writing the destination's column slice (its output row stride): no copy.</summary>
    public void AttentionInto(Tensor destination, int columnOffset, Tensor q, Tensor k, Tensor v, float scale, Tensor? keyMask = null)
    {
        var cd = C(destination, "AttentionInto");
        if (destination.Shape.Rank != 3 || q.Shape.Rank != 4 || v.Shape.Rank != 4)
            throw new ArgumentException($"AttentionInto: destination {destination.Shape} must have rank 3, q {q.Shape} and v {v.Shape} rank 4.");
        ColumnSlice.Check("AttentionInto", cd, columnOffset, q.Shape[2] * v.Shape[3], (long)q.Shape[0] * q.Shape[1]);
        AttentionCore("AttentionInto", q, k, v, keyMask, null, keyWeights: null, into: true);
    }

    /// <summary>Attention plus the fp32 affinity [B, Hq, Sq] reduced in the same kernel (the key weights read as fp32).</summary>
    public (Tensor Output, Tensor Affinity) AttentionWithAffinity(Tensor q, Tensor k, Tensor v, float scale, Tensor keyWeights, Tensor? keyMask = null)
    {
        var r = AttentionCore("AttentionWithAffinity", q, k, v, keyMask, null, keyWeights);
        return (r.Output, r.Affinity!);
    }

    /// <summary>
    /// One launch (the flash kernel, or the reference kernel where the plan picks it): q, k, v (bf16) and the optional
    /// mask (fp32), bias (bf16) and key weights (fp32) read once, the output written once; no [Sq, Sk] matrix in memory.
    /// </summary>
    private (Tensor Output, Tensor? Affinity) AttentionCore(string op, Tensor q, Tensor k, Tensor v, Tensor? keyMask, Tensor? bias, Tensor? keyWeights,
        bool into = false, long accumulateRead = 0, bool causal = false)
    {
        var (cq, ck, cv) = (C(q, op), C(k, op), C(v, op));
        var (cm, cbias, cw) = (Optional(keyMask, op), Optional(bias, op), Optional(keyWeights, op));
        if (q.Shape.Rank != 4 || k.Shape.Rank != 4 || v.Shape.Rank != 4)
            throw new ArgumentException($"{op}: q {q.Shape}, k {k.Shape}, v {v.Shape} must have rank 4.");
        int batch = q.Shape[0], sq = q.Shape[1], hq = q.Shape[2], d = q.Shape[3], sk = k.Shape[1], dv = v.Shape[3];
        var o = into ? null! : New(new Shape(batch, sq, hq, dv), DType.BF16, op); // AttentionInto: the destination's slice
        var affinity = cw is null ? null : New(new Shape(batch, hq, sq), DType.F32, op);
        if ((long)batch * hq * sq == 0) return (o, affinity);
        ToBf16(op, cq);
        ToBf16(op, ck);
        ToBf16(op, cv);
        ToF32(op, cm);      // "0 excludes a key" is compared exactly, in fp32
        ToBf16(op, cbias);
        ToF32(op, cw);
        long read = Bf16Bytes(q) + Bf16Bytes(k) + Bf16Bytes(v) + F32Bytes(cm) + Bf16Bytes(cbias) + F32Bytes(cw);
        CountFlashAttention(op, read, 2L * batch * sq * hq * dv, affinity is null ? 0 : 4L * affinity.ElementCount, accumulateRead,
            2.0 * batch * hq * sq * sk * (d + dv), batch, sq, sk, hq, d, dv, causal, withAffinity: affinity is not null);
        return (o, affinity);
    }

    // ---- Normalisation and modulation: one row kernel or elementwise kernel each ---------------------------

    /// <summary>layernorm_bf16: x and the optional weight and bias read, y written.</summary>
    public Tensor LayerNorm(Tensor x, float eps, Tensor? weight = null, Tensor? bias = null) => RowNorm("LayerNorm", "layernorm_bf16", x, weight, bias);

    /// <summary>rmsnorm_bf16: x and the optional weight read, y written.</summary>
    public Tensor RmsNorm(Tensor x, float eps, Tensor? weight = null) => RowNorm("RmsNorm", "rmsnorm_bf16", x, weight, null);

    private Tensor RowNorm(string op, string kernel, Tensor x, Tensor? weight, Tensor? bias)
    {
        var (cx, cw, cb) = (C(x, op), Optional(weight, op), Optional(bias, op));
        var y = New(x.Shape, DType.BF16, op);
        ToBf16(op, cx);
        ToBf16(op, cw);
        ToBf16(op, cb);
        Kernel(op, kernel, x.Shape.Rows, 2L * cx.ElementCount + Bf16Bytes(cw) + Bf16Bytes(cb), 2L * y.ElementCount);
        return y;
    }

    /// <summary>groupnorm_bf16: one block per (image, group).</summary>
    public Tensor GroupNorm(Tensor x, int groups, float eps, Tensor weight, Tensor bias)
    {
        var (cx, cw, cb) = (C(x, "GroupNorm"), C(weight, "GroupNorm"), C(bias, "GroupNorm"));
        var y = New(x.Shape, DType.BF16, "GroupNorm");
        ToBf16("GroupNorm", cx);
        ToBf16("GroupNorm", cw);
        ToBf16("GroupNorm", cb);
        Kernel("GroupNorm", "groupnorm_bf16", (long)x.Shape[0] * groups, 2L * cx.ElementCount + Bf16Bytes(cw) + Bf16Bytes(cb), 2L * y.ElementCount);
        return y;
    }

    /// <summary>modulate_bf16: x, and the per-batch scale and shift (read once: they stay in cache), y written.</summary>
    public Tensor Modulate(Tensor x, Tensor? scale, Tensor? shift)
    {
        var (cx, sc, sh) = (C(x, "Modulate"), Optional(scale, "Modulate"), Optional(shift, "Modulate"));
        var y = New(x.Shape, DType.BF16, "Modulate");
        ToBf16("Modulate", cx);
        ToBf16("Modulate", sc);
        ToBf16("Modulate", sh);
        Kernel("Modulate", "modulate_bf16", y.ElementCount, 2L * cx.ElementCount + Bf16Bytes(sc) + Bf16Bytes(sh), 2L * y.ElementCount);
        return y;
    }

    /// <summary>
    /// layernorm_modulate_bf16, one row kernel: x and the per-batch scale and shift read once, y written; the normalised
    /// row is not stored (LayerNorm then Modulate moved 2n more in each direction and launched twice).
    /// </summary>
    public Tensor LayerNormModulate(Tensor x, float eps, Tensor? scale, Tensor? shift)
    {
        var (cx, sc, sh) = (C(x, "LayerNormModulate"), Optional(scale, "LayerNormModulate"), Optional(shift, "LayerNormModulate"));
        var y = New(x.Shape, DType.BF16, "LayerNormModulate");
        ToBf16("LayerNormModulate", cx);
        ToBf16("LayerNormModulate", sc);
        ToBf16("LayerNormModulate", sh);
        Kernel("LayerNormModulate", "layernorm_modulate_bf16", x.Shape.Rows, 2L * cx.ElementCount + Bf16Bytes(sc) + Bf16Bytes(sh), 2L * y.ElementCount);
        return y;
    }

    /// <summary>rmsnorm_modulate_bf16, one row kernel as <see cref="LayerNormModulate"/>, plus the optional weight read once.</summary>
    public Tensor RmsNormModulate(Tensor x, float eps, Tensor? weight, Tensor? scale, Tensor? shift)
    {
        const string op = "RmsNormModulate";
        var (cx, cw, sc, sh) = (C(x, op), Optional(weight, op), Optional(scale, op), Optional(shift, op));
        var y = New(x.Shape, DType.BF16, op);
        ToBf16(op, cx);
        ToBf16(op, cw);
        ToBf16(op, sc);
        ToBf16(op, sh);
        Kernel(op, "rmsnorm_modulate_bf16", x.Shape.Rows, 2L * cx.ElementCount + Bf16Bytes(cw) + Bf16Bytes(sc) + Bf16Bytes(sh), 2L * y.ElementCount);
        return y;
    }

    /// <summary>add_gated_{f32,bf16} in place: the residual read and written in its own type, y (bf16) and the gate read.</summary>
    public void AddGatedInPlace(Tensor residual, Tensor y, Tensor? gate)
    {
        var (cr, cy, cg) = (C(residual, "AddGatedInPlace"), C(y, "AddGatedInPlace"), Optional(gate, "AddGatedInPlace"));
        if (residual.Shape != y.Shape) throw new ArgumentException($"AddGatedInPlace: shapes {residual.Shape} and {y.Shape} differ.");
        ToBf16("AddGatedInPlace", cy);
        ToBf16("AddGatedInPlace", cg);
        Kernel("AddGatedInPlace", cr.DType == DType.F32 ? "add_gated_f32" : "add_gated_bf16", cr.ElementCount,
            cr.ByteCount + 2L * cy.ElementCount + Bf16Bytes(cg), cr.ByteCount);
    }

    // ---- Pointwise ------------------------------------------------------------------------------

    /// <summary>activate_{f32,bf16}: F32 stays F32, anything else is bf16.</summary>
    public Tensor Activate(Tensor x, Activation activation) => SameType("Activate", "activate", x);

    /// <summary>scale_{f32,bf16}.</summary>
    public Tensor Scale(Tensor x, float s) => SameType("Scale", "scale", x);

    /// <summary>relu_{f32,bf16}.</summary>
    public Tensor Relu(Tensor x) => SameType("Relu", "relu", x);

    /// <summary>A one-input kernel that keeps F32 as F32 (no conversion) and writes bf16 otherwise.</summary>
    private Tensor SameType(string op, string kernel, Tensor x)
    {
        var cx = C(x, op);
        var y = New(x.Shape, cx.DType, op);
        Kernel(op, $"{kernel}_{Suffix(cx.DType)}", y.ElementCount, cx.ByteCount, y.ByteCount);
        return y;
    }

    public Tensor Add(Tensor a, Tensor b) => Broadcast("Add", "add_broadcast", a, b);

    public Tensor Multiply(Tensor a, Tensor b) => Broadcast("Multiply", "mul_broadcast", a, b);

    /// <summary>{add,mul}_broadcast: both F32 → an fp32 kernel; otherwise both converted to bf16. b (broadcast) read once.</summary>
    private Tensor Broadcast(string op, string kernel, Tensor a, Tensor b)
    {
        var (ca, cb) = (C(a, op), C(b, op));
        bool f32 = ca.DType == DType.F32 && cb.DType == DType.F32;
        var y = New(a.Shape, f32 ? DType.F32 : DType.BF16, op);
        if (y.ElementCount == 0) return y;
        if (!f32)
        {
            ToBf16(op, ca);
            ToBf16(op, cb);
        }
        int size = f32 ? 4 : 2;
        Kernel(op, $"{kernel}_{(f32 ? "f32" : "bf16")}", y.ElementCount, size * ((long)ca.ElementCount + cb.ElementCount), y.ByteCount);
        return y;
    }

    /// <summary>softmax_bf16, one block per row.</summary>
    public Tensor Softmax(Tensor x)
    {
        var cx = C(x, "Softmax");
        var y = New(x.Shape, DType.BF16, "Softmax");
        ToBf16("Softmax", cx);
        Kernel("Softmax", "softmax_bf16", x.Shape.Rows, 2L * cx.ElementCount, 2L * y.ElementCount);
        return y;
    }

    // ---- Positional encodings and embeddings ------------------------------------------------------

    /// <summary>
    /// rotary_bf16_f32table when either table is F32 (the other widened), else rotary_bf16: x read and y written once,
    /// the [S, P] tables read once (they are shared by every head and stay in cache).
    /// </summary>
    public Tensor Rotary(Tensor x, Tensor cos, Tensor sin, RotaryPairing pairing = RotaryPairing.Adjacent)
    {
        var (cx, cc, cs) = (C(x, "Rotary"), C(cos, "Rotary"), C(sin, "Rotary"));
        var y = New(x.Shape, DType.BF16, "Rotary");
        bool f32Tables = cc.DType == DType.F32 || cs.DType == DType.F32;
        ToBf16("Rotary", cx);
        if (f32Tables)
        {
            ToF32("Rotary", cc);
            ToF32("Rotary", cs);
        }
        long tables = (f32Tables ? 4L : 2L) * (cc.ElementCount + cs.ElementCount);
        Kernel("Rotary", f32Tables ? "rotary_bf16_f32table" : "rotary_bf16", y.ElementCount, 2L * cx.ElementCount + tables, 2L * y.ElementCount);
        return y;
    }

    /// <summary>timestep_embedding_f32: t read as fp32, [B, dim] written.</summary>
    public Tensor TimestepEmbedding(Tensor t, int dim, bool flipSinToCos, float downscaleFreqShift, float scale = 1f, float maxPeriod = 10000f)
    {
        var ct = C(t, "TimestepEmbedding");
        var y = New(new Shape(t.Shape[0], dim), DType.BF16, "TimestepEmbedding");
        ToF32("TimestepEmbedding", ct);
        Kernel("TimestepEmbedding", "timestep_embedding_f32", y.ElementCount, F32Bytes(ct), 2L * y.ElementCount);
        return y;
    }

    // ---- Layout ---------------------------------------------------------------------------------

    /// <summary>gather_rows_{b32,b16}: the indices and the gathered rows read, the rows written; the table's type is kept.</summary>
    public Tensor GatherRows(Tensor table, Tensor indices)
    {
        var (ct, ci) = (C(table, "GatherRows"), C(indices, "GatherRows"));
        int d = table.Shape[1];
        var y = New(new Shape([.. indices.Shape.Dims, d]), ct.DType, "GatherRows");
        Kernel("GatherRows", ct.DType == DType.F32 ? "gather_rows_b32" : "gather_rows_b16", y.ElementCount,
            4L * ci.ElementCount + y.ByteCount, y.ByteCount);
        return y;
    }

    /// <summary>scatter_rows_{b32,b16} in place: the source is first converted to the destination's type.</summary>
    public void ScatterRowsInPlace(Tensor destination, Tensor indices, Tensor source)
    {
        var (cd, ci, cs) = (C(destination, "ScatterRowsInPlace"), C(indices, "ScatterRowsInPlace"), C(source, "ScatterRowsInPlace"));
        if (cd.DType == DType.F32) ToF32("ScatterRowsInPlace", cs);
        else ToBf16("ScatterRowsInPlace", cs);
        long rows = (long)cs.ElementCount * CountingTensor.SizeOf(cd.DType);
        Kernel("ScatterRowsInPlace", cd.DType == DType.F32 ? "scatter_rows_b32" : "scatter_rows_b16", cs.ElementCount,
            4L * ci.ElementCount + rows, rows);
    }

    /// <summary>cuMemcpyDtoDAsync of the whole tensor: no launch.</summary>
    public Tensor Copy(Tensor x)
    {
        var cx = C(x, "Copy");
        var y = new CountingTensor(this, x.Shape, cx.DType, "Copy", cx.HostValues, cx.HostIndices);
        DeviceCopy("Copy", "memcpy", cx.ByteCount, cx.ByteCount);
        return y;
    }

    /// <summary>
    /// One Copy2d per part into its column block: a memcpy when the part is one contiguous run (a single outer row, or
    /// the concatenation axis is the outermost one with data), else one copy2d kernel. Parts of mixed types are
    /// converted to bf16 first; parts of one type keep it.
    /// </summary>
    public Tensor Concat(int axis, params Tensor[] parts)
    {
        var (shape, ax) = OpShapes.Concat(axis, parts);
        var cparts = parts.Select(p => C(p, "Concat")).ToArray();
        DType dtype = cparts.All(p => p.DType == cparts[0].DType) ? cparts[0].DType : DType.BF16;
        var y = New(shape, dtype, "Concat");
        long outer = shape.Outer(ax), inner = shape.Inner(ax);
        foreach (var part in cparts)
        {
            if (dtype == DType.BF16) ToBf16("Concat", part);
            long block = part.Shape[ax] * inner;
            Copy2d("Concat", outer, block, srcStride: block, dstStride: shape[ax] * inner, CountingTensor.SizeOf(dtype));
        }
        return y;
    }

    /// <summary>Copy2d of the slice: a memcpy when it is contiguous in the source (one outer row, or the whole axis), else copy2d.</summary>
    public Tensor Slice(Tensor x, int axis, int start, int length)
    {
        var cx = C(x, "Slice");
        int ax = x.Shape.Axis(axis);
        if (start < 0 || length < 0 || start + length > x.Shape[ax])
            throw new ArgumentOutOfRangeException(nameof(start), $"Slice [{start}, {start + length}) is outside axis {ax} of {x.Shape}.");
        var y = New(x.Shape.With(ax, length), cx.DType, "Slice");
        long outer = x.Shape.Outer(ax), inner = x.Shape.Inner(ax);
        Copy2d("Slice", outer, length * inner, srcStride: x.Shape[ax] * inner, dstStride: length * inner, CountingTensor.SizeOf(cx.DType));
        return y;
    }

    /// <summary>
    /// CudaBackend.Copy2d: nothing for no elements; a memcpy for one contiguous run; else the driver's 2D copy (no launch)
    /// while both pitches fit the driver's limit, the copy2d kernel beyond it.
    /// </summary>
    private void Copy2d(string op, long rows, long cols, long srcStride, long dstStride, int elementSize)
    {
        long bytes = rows * cols * elementSize;
        if (bytes == 0) return;
        if (rows == 1 || (srcStride == cols && dstStride == cols))
            DeviceCopy(op, "memcpy", bytes, bytes);
        else if (Copy2dPlan.FitsDriverPitch((ulong)(srcStride * elementSize), (ulong)(dstStride * elementSize)))
            DeviceCopy(op, "memcpy2d", bytes, bytes);
        else
            Kernel(op, elementSize == 4 ? "copy2d_b32" : "copy2d_b16", rows * cols, bytes, bytes);
    }

    /// <summary>transpose_last2_{b32,b16}: 32×32 tiles through shared memory, each element read and written once.</summary>
    public Tensor TransposeLast2(Tensor x)
    {
        var cx = C(x, "TransposeLast2");
        int[] dims = x.Shape.ToArray();
        (dims[^2], dims[^1]) = (dims[^1], dims[^2]);
        var y = New(new Shape(dims), cx.DType, "TransposeLast2");
        Kernel("TransposeLast2", cx.DType == DType.F32 ? "transpose_last2_b32" : "transpose_last2_b16", y.ElementCount, cx.ByteCount, y.ByteCount);
        return y;
    }

    /// <summary>patchify_{b32,b16}: a permutation, each element read and written once in its own type.</summary>
    public Tensor Patchify(Tensor x, int patch, PatchLayout layout)
    {
        var cx = C(x, "Patchify");
        int batch = x.Shape[0], channels = x.Shape[1], gh = x.Shape[2] / patch, gw = x.Shape[3] / patch;
        var y = New(new Shape(batch, gh * gw, channels * patch * patch), cx.DType, "Patchify");
        Kernel("Patchify", $"patchify_{Width(cx.DType)}", y.ElementCount, cx.ByteCount, y.ByteCount);
        return y;
    }

    /// <summary>unpatchify_{b32,b16}: the inverse permutation.</summary>
    public Tensor Unpatchify(Tensor tokens, int channels, int height, int width, int patch, PatchLayout layout)
    {
        var ct = C(tokens, "Unpatchify");
        var y = New(new Shape(tokens.Shape[0], channels, height, width), ct.DType, "Unpatchify");
        Kernel("Unpatchify", $"unpatchify_{Width(ct.DType)}", y.ElementCount, ct.ByteCount, y.ByteCount);
        return y;
    }

    // ---- Convolution (the VAE; no transformer runs one) ------------------------------------------------

    /// <summary>
    /// Per image and column chunk (<see cref="CudaBackend.ConvChunkColumns"/> with the default scratch budget): im2col
    /// (skipped for a whole-image 1×1 stride-1 conv on an aligned image), the GEMM into an fp32 chunk, and
    /// conv_bias_store_bf16 (bias and rounding).
    /// </summary>
    public Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, int stride, int padding)
    {
        var (cx, cw, cb) = (C(x, "Conv2d"), C(weight, "Conv2d"), Optional(bias, "Conv2d"));
        int batch = x.Shape[0], cin = x.Shape[1], h = x.Shape[2], w = x.Shape[3];
        int cout = weight.Shape[0], kh = weight.Shape[2], kw = weight.Shape[3];
        int hout = (h + 2 * padding - kh) / stride + 1, wout = (w + 2 * padding - kw) / stride + 1;
        var y = New(new Shape(batch, cout, hout, wout), DType.BF16, "Conv2d");
        if (y.ElementCount == 0) return y;
        ToBf16("Conv2d", cx);
        ToBf16("Conv2d", cw);
        ToBf16("Conv2d", cb);
        long k = (long)cin * kh * kw, n = (long)hout * wout;
        if (k == 0)
        {
            DeviceCopy("Conv2d", "memset", 0, y.ByteCount);
            if (cb is not null)
                for (int b = 0; b < batch; b++)
                {
                    DeviceCopy("Conv2d", "memset", 0, 4L * cout * n);
                    Kernel("Conv2d", "conv_bias_store_bf16", cout * n, 4L * cout * n + Bf16Bytes(cb), 2L * cout * n);
                }
            return y;
        }
        bool direct = kh == 1 && kw == 1 && stride == 1 && padding == 0;
        int nc = CudaBackend.ConvChunkColumns((int)k, cout, (int)n, DefaultConvolutionScratchBytes);
        long imageIn = (long)cin * h * w * 2;
        for (int b = 0; b < batch; b++)
            for (long n0 = 0; n0 < n; n0 += nc)
            {
                long c = Math.Min(nc, n - n0);
                bool imageIsCol = direct && nc == n && b * imageIn % 256 == 0; // pool blocks are 256-byte aligned
                if (!imageIsCol)
                    Kernel("Conv2d", "im2col_bf16", k * c, 2L * cin * h * w * c / n, 2 * k * c);
                Ledger.Add("Conv2d", GemmEngine == CountedGemmEngine.CublasLt ? "cuBLASLt matmul (fp32 out)" : "gemm_bf16 (fp32 out)", TrafficKind.Gemm,
                    2 * k * c + 2 * cout * k, 4 * cout * c, 2.0 * cout * c * k, 1);
                Kernel("Conv2d", "conv_bias_store_bf16", cout * c, 4 * cout * c + Bf16Bytes(cb), 2 * cout * c);
            }
        return y;
    }

    private static readonly ulong DefaultConvolutionScratchBytes = new CudaBackendOptions().ConvolutionScratchBytes;

    /// <summary>upsample_nearest2x_{b32,b16}: each input element read once, four written.</summary>
    public Tensor UpsampleNearest2x(Tensor x)
    {
        var cx = C(x, "UpsampleNearest2x");
        var y = New(new Shape(x.Shape[0], x.Shape[1], 2 * x.Shape[2], 2 * x.Shape[3]), cx.DType, "UpsampleNearest2x");
        Kernel("UpsampleNearest2x", $"upsample_nearest2x_{Width(cx.DType)}", y.ElementCount, cx.ByteCount, y.ByteCount);
        return y;
    }

    // ---- Sampling -------------------------------------------------------------------------------

    public Tensor GuidanceCombine(Tensor uncond, Tensor cond, float scale) => PairWithScalar("GuidanceCombine", "guidance_combine", uncond, cond);

    /// <summary>guidance_combine_map_{f32,bf16}: the scale map read as fp32 (widened if bf16), broadcast.</summary>
    public Tensor GuidanceCombine(Tensor uncond, Tensor cond, Tensor scale)
    {
        var (cu, cc, cs) = (C(uncond, "GuidanceCombine"), C(cond, "GuidanceCombine"), C(scale, "GuidanceCombine"));
        bool f32 = cu.DType == DType.F32 && cc.DType == DType.F32;
        var y = New(cond.Shape, f32 ? DType.F32 : DType.BF16, "GuidanceCombine");
        if (y.ElementCount == 0) return y;
        if (!f32)
        {
            ToBf16("GuidanceCombine", cu);
            ToBf16("GuidanceCombine", cc);
        }
        ToF32("GuidanceCombine", cs);
        Kernel("GuidanceCombine", $"guidance_combine_map_{(f32 ? "f32" : "bf16")}", y.ElementCount, 2 * y.ByteCount + F32Bytes(cs), y.ByteCount);
        return y;
    }

    public Tensor Extrapolate(Tensor latest, Tensor previous, float coefficient) => PairWithScalar("Extrapolate", "extrapolate", latest, previous);

    /// <summary>{kernel}_f32 when both are F32 (F32 out), else both converted to bf16 and {kernel}_bf16.</summary>
    private Tensor PairWithScalar(string op, string kernel, Tensor a, Tensor b)
    {
        var (ca, cb) = (C(a, op), C(b, op));
        bool f32 = ca.DType == DType.F32 && cb.DType == DType.F32;
        var y = New(b.Shape, f32 ? DType.F32 : DType.BF16, op);
        if (!f32)
        {
            ToBf16(op, ca);
            ToBf16(op, cb);
        }
        Kernel(op, $"{kernel}_{(f32 ? "f32" : "bf16")}", y.ElementCount, 2 * y.ByteCount, y.ByteCount);
        return y;
    }

    /// <summary>
    /// Two launches: per-block fp64 partial sums (≤ 1024 blocks of 256 threads, 16 bytes each), then one block adds them.
    /// With no elements the partials are a memset.
    /// </summary>
    public Tensor AbsDifferenceSums(Tensor a, Tensor b)
    {
        var (ca, cb) = (C(a, "AbsDifferenceSums"), C(b, "AbsDifferenceSums"));
        var sums = New(new Shape(2), DType.F32, "AbsDifferenceSums");
        long n = cb.ElementCount;
        long blocks = Math.Max(1, Math.Min((n + 255) / 256, 1024));
        bool f32 = ca.DType == DType.F32 && cb.DType == DType.F32;
        if (n == 0)
            DeviceCopy("AbsDifferenceSums", "memset", 0, 16);
        else
        {
            if (!f32)
            {
                ToBf16("AbsDifferenceSums", ca);
                ToBf16("AbsDifferenceSums", cb);
            }
            Kernel("AbsDifferenceSums", $"abs_difference_partials_{(f32 ? "f32" : "bf16")}", n, (f32 ? 8 : 4) * n, 16 * blocks);
        }
        Kernel("AbsDifferenceSums", "abs_difference_finish", 1, 16 * blocks, 8);
        return sums;
    }

    /// <summary>euler_step_{latents}_{velocity}: latents read and written in their type, velocity read in its own.</summary>
    public void EulerStepInPlace(Tensor latents, Tensor velocity, float dt)
    {
        var (cx, cv) = (C(latents, "EulerStepInPlace"), C(velocity, "EulerStepInPlace"));
        Kernel("EulerStepInPlace", $"euler_step_{Suffix(cx.DType)}_{Suffix(cv.DType)}", cx.ElementCount, cx.ByteCount + cv.ByteCount, cx.ByteCount);
    }

    /// <summary>A memset of the counter, count_nonfinite, and a 4-byte read back. Nothing computed here is non-finite: 0.</summary>
    public int CountNonFinite(Tensor x)
    {
        var cx = C(x, "CountNonFinite");
        DeviceCopy("CountNonFinite", "memset", 0, 4);
        Kernel("CountNonFinite", $"count_nonfinite_{Suffix(cx.DType)}", cx.ElementCount, cx.ByteCount, 0);
        HostCopy("CountNonFinite", "device→host", 4);
        return cx.HostValues is null ? 0 : cx.HostValues().Count(v => !float.IsFinite(v));
    }

    private static string Suffix(DType dtype) => dtype == DType.F32 ? "f32" : "bf16";

    private static string Width(DType dtype) => CountingTensor.SizeOf(dtype) == 4 ? "b32" : "b16";
}
