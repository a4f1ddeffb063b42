using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cuda;

public sealed partial class CudaBackend
{
    /// <summary>
    /// Whether <c>attention_inputs_bf16</c> (qkv.cu) takes this call: one or two parts, head width a multiple of 8 up to 256
    /// (one 16-byte vector per lane, at most a warp per row). Other calls run the separate passes. Shared with the counting rule.
    /// </summary>
    public static bool FusedAttentionInputsFit(int parts, int headDim) => parts is 1 or 2 && headDim % 8 == 0 && headDim is >= 8 and <= 256;

    /// <summary>
    /// One launch of <c>attention_inputs_bf16</c>: per-head RMSNorm, RoPE and the joining of the parts, q/k rounded once.
    /// Parts and norm weights are read as bf16 (F32 ones converted on entry), the rotary tables as fp32.
    /// </summary>
    public AttentionInputs PrepareAttentionInputs(IReadOnlyList<QkvPart> parts, int heads, int kvHeads, int headDim, float eps, Tensor? cos = null, Tensor? sin = null)
    {
        var (batch, sequence) = AttentionInputsOp.Check(parts, heads, kvHeads, headDim, cos, sin);
        long slots = heads + 2L * kvHeads;
        long rows = (long)batch * sequence * slots;
        if (!FusedAttentionInputsFit(parts.Count, headDim) || rows * headDim > int.MaxValue)
            return AttentionInputsOp.Compose(this, parts, heads, kvHeads, headDim, eps, cos, sin);
        using var op = Enter(AttentionInputsOp.Name, parts[0].Qkv, parts.Count > 1 ? parts[1].Qkv : null, cos);
        var qkv = new CudaTensor[2];
        var norms = new CudaTensor?[4];
        var tokens = new int[2];
        for (int i = 0; i < parts.Count; i++)
        {
            qkv[i] = Bf16(Float(parts[i].Qkv, AttentionInputsOp.Name));
            tokens[i] = parts[i].Qkv.Shape[1];
            norms[2 * i] = parts[i].NormQ is { } nq ? Bf16(Float(nq, AttentionInputsOp.Name)) : null;
            norms[2 * i + 1] = parts[i].NormK is { } nk ? Bf16(Float(nk, AttentionInputsOp.Name)) : null;
        }
        var cosTable = cos is null ? null : F32(Float(cos, AttentionInputsOp.Name));
        var sinTable = sin is null ? null : F32(Float(sin, AttentionInputsOp.Name));
        var q = New(new Shape(batch, sequence, heads, headDim), DType.BF16);
        var k = New(new Shape(batch, sequence, kvHeads, headDim), DType.BF16);
        var v = New(new Shape(batch, sequence, kvHeads, headDim), DType.BF16);
        int groupLog2 = 0;
        while ((1 << groupLog2) * 8 < headDim) groupLog2++;
        ulong threads = (ulong)rows << groupLog2;
        const int block = 256;
        Launch("attention_inputs_bf16", (uint)LaunchConfig.CeilDiv((long)threads, block), block, 0,
            qkv[0].Pointer, PointerOf(parts.Count > 1 ? qkv[1] : null), tokens[0], tokens[1],
            PointerOf(norms[0]), PointerOf(norms[1]), PointerOf(norms[2]), PointerOf(norms[3]),
            PointerOf(cosTable), PointerOf(sinTable), cos is null ? 0 : cos.Shape[1],
            q.Pointer, k.Pointer, v.Pointer, (int)rows, heads, kvHeads, headDim, groupLog2, eps);
        return new AttentionInputs(q, k, v);
    }
}
