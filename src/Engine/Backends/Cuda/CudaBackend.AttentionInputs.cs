using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cuda;

public sealed partial class CudaBackend
{
    /// <summary>
    /// Whether the qkv.cu kernels take this call: one or two parts, head width a multiple of 8 (16-byte vectors inside a
    /// head), and for the per-head RMSNorm at most 256 (one vector per lane, at most a warp per row). Other calls run the
    /// separate passes. Shared with the counting rule.
    /// </summary>
    public static bool FusedAttentionInputsFit(int parts, int headDim, QkNorm norm = QkNorm.RmsPerHead) =>
        parts is 1 or 2 && headDim % 8 == 0 && headDim >= 8 && (norm == QkNorm.LayerNormAcrossHeads || headDim <= 256);

    /// <summary>
    /// One launch of <c>attention_inputs_bf16</c> (per-head RMSNorm) or <c>attention_inputs_layernorm_bf16</c> (LayerNorm
    /// across heads): the norms, RoPE and the joining of the parts, q/k rounded once. Parts and norm vectors are read as
    /// bf16 (F32 ones converted on entry), the rotary tables as fp32.
    /// </summary>
    public AttentionInputs PrepareAttentionInputs(IReadOnlyList<QkvPart> parts, int heads, int kvHeads, int headDim, float eps, Tensor? cos = null, Tensor? sin = null,
        QkNorm norm = QkNorm.RmsPerHead)
    {
        var (q, k, v) = PrepareInputs(AttentionInputsOp.Name, parts, heads, kvHeads, headDim, eps, cos, sin, norm, withValue: true);
        return new AttentionInputs(q, k, v!);
    }

    /// <summary>
    /// The same launch with a null v (Fusion 13): the kernel reads and writes the q and k columns only, so v stays where the
    /// GEMM wrote it (<see cref="AttentionPackedValue"/> reads it there). q and k have the bits of
    /// <see cref="PrepareAttentionInputs"/>; the shapes its kernels do not take run its separate passes, v dropped.
    /// </summary>
    public PackedValueInputs PrepareQueryKey(QkvPart part, int heads, int kvHeads, int headDim, float eps, Tensor? cos = null, Tensor? sin = null,
        QkNorm norm = QkNorm.RmsPerHead)
    {
        var (q, k, _) = PrepareInputs(PackedValueOp.PrepareName, [part], heads, kvHeads, headDim, eps, cos, sin, norm, withValue: false);
        return new PackedValueInputs(q, k, new PackedQkv(part.Qkv, heads, kvHeads, headDim));
    }

    private (Tensor Q, Tensor K, Tensor? V) PrepareInputs(string name, IReadOnlyList<QkvPart> parts, int heads, int kvHeads, int headDim, float eps,
        Tensor? cos, Tensor? sin, QkNorm norm, bool withValue)
    {
        var (batch, sequence) = AttentionInputsOp.Check(parts, heads, kvHeads, headDim, cos, sin, norm);
        long slots = heads + 2L * kvHeads;
        long rows = (long)batch * sequence * slots;
        if (!FusedAttentionInputsFit(parts.Count, headDim, norm) || rows * headDim > int.MaxValue)
        {
            var composed = AttentionInputsOp.Compose(this, parts, heads, kvHeads, headDim, eps, cos, sin, norm);
            return (composed.Q, composed.K, withValue ? composed.V : null);
        }
        using var op = Enter(name, parts[0].Qkv, parts.Count > 1 ? parts[1].Qkv : null, cos);
        var qkv = new CudaTensor[2];
        var norms = new CudaTensor?[4];
        var biases = new CudaTensor?[4];
        var tokens = new int[2];
        for (int i = 0; i < parts.Count; i++)
        {
            qkv[i] = Bf16(Float(parts[i].Qkv, name));
            tokens[i] = parts[i].Qkv.Shape[1];
            norms[2 * i] = parts[i].NormQ is { } nq ? Bf16(Float(nq, name)) : null;
            norms[2 * i + 1] = parts[i].NormK is { } nk ? Bf16(Float(nk, name)) : null;
            biases[2 * i] = parts[i].NormQBias is { } bq ? Bf16(Float(bq, name)) : null;
            biases[2 * i + 1] = parts[i].NormKBias is { } bk ? Bf16(Float(bk, name)) : null;
        }
        var cosTable = cos is null ? null : F32(Float(cos, name));
        var sinTable = sin is null ? null : F32(Float(sin, name));
        var q = New(new Shape(batch, sequence, heads, headDim), DType.BF16);
        var k = New(new Shape(batch, sequence, kvHeads, headDim), DType.BF16);
        var v = withValue ? New(new Shape(batch, sequence, kvHeads, headDim), DType.BF16) : null;
        int pairs = cos is null ? 0 : cos.Shape[1];
        if (norm == QkNorm.LayerNormAcrossHeads)
        {
            Launch("attention_inputs_layernorm_bf16", (uint)(batch * sequence), 256, 0,
                qkv[0].Pointer, PointerOf(parts.Count > 1 ? qkv[1] : null), tokens[0], tokens[1],
                PointerOf(norms[0]), PointerOf(biases[0]), PointerOf(norms[1]), PointerOf(biases[1]),
                PointerOf(norms[2]), PointerOf(biases[2]), PointerOf(norms[3]), PointerOf(biases[3]),
                PointerOf(cosTable), PointerOf(sinTable), pairs, q.Pointer, k.Pointer, PointerOf(v), heads, kvHeads, headDim, eps);
            return (q, k, v);
        }
        // Without v the kernel's rows are the (token, q/k slot) pairs only.
        long launched = withValue ? rows : (long)batch * sequence * (heads + kvHeads);
        int groupLog2 = 0;
        while ((1 << groupLog2) * 8 < headDim) groupLog2++;
        ulong threads = (ulong)launched << groupLog2;
        const int block = 256;
        Launch("attention_inputs_bf16", (uint)LaunchConfig.CeilDiv((long)threads, block), block, 0,
            qkv[0].Pointer, PointerOf(parts.Count > 1 ? qkv[1] : null), tokens[0], tokens[1],
            PointerOf(norms[0]), PointerOf(norms[1]), PointerOf(norms[2]), PointerOf(norms[3]),
            PointerOf(cosTable), PointerOf(sinTable), pairs,
            q.Pointer, k.Pointer, PointerOf(v), (int)launched, heads, kvHeads, headDim, groupLog2, eps);
        return (q, k, v);
    }
}
