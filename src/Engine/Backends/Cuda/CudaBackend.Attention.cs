using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cuda;

public sealed partial class CudaBackend
{
    public Tensor Attention(Tensor q, Tensor k, Tensor v, float scale, Tensor? keyMask = null, bool causal = false, Tensor? bias = null) =>
        AttentionCore(q, k, v, scale, keyMask, causal, bias, null, withLse: false, ForceReferenceAttention, "Attention").Output;

    /// <summary>
    /// Attention plus affinity[b, h, i] = Σⱼ P[b, h, i, j]·keyWeights[b, j] (F32 [B, Hq, Sq]), reduced inside the kernel from
    /// the fp32 probabilities (running weighted sum rescaled with the row sum; no [Sq, Sk] map is materialised).
    /// </summary>
    public (Tensor Output, Tensor Affinity) AttentionWithAffinity(Tensor q, Tensor k, Tensor v, float scale, Tensor keyWeights, Tensor? keyMask = null)
    {
        var r = AttentionCore(q, k, v, scale, keyMask, false, null, keyWeights, withLse: false, ForceReferenceAttention, "Attention");
        return (r.Output, r.Affinity!);
    }

    /// <summary><see cref="AttentionWithAffinity"/> by the reference kernel (selftest cross-check).</summary>
    public (Tensor Output, Tensor Affinity) AttentionWithAffinityReference(Tensor q, Tensor k, Tensor v, float scale, Tensor keyWeights, Tensor? keyMask = null)
    {
        var r = AttentionCore(q, k, v, scale, keyMask, false, null, keyWeights, withLse: false, forceReference: true, "Attention");
        return (r.Output, r.Affinity!);
    }

    /// <summary>
    /// Attention that also returns the natural-log log-sum-exp of each row's scaled (and biased, masked) scores,
    /// lse [B, Hq, Sq] in F32 (−∞ for a fully masked row): what split-KV and sequence-parallel merges need.
    /// <paramref name="kernel"/> picks the kernel (null: the flash kernel where it has a specialisation).
    /// </summary>
    public (Tensor Output, Tensor LogSumExp) AttentionWithLogSumExp(Tensor q, Tensor k, Tensor v, float scale, Tensor? keyMask = null,
        bool causal = false, Tensor? bias = null, AttentionKernel? kernel = null)
    {
        var r = AttentionCore(q, k, v, scale, keyMask, causal, bias, null, withLse: true,
            kernel is null ? ForceReferenceAttention : kernel == AttentionKernel.Reference, "Attention");
        return (r.Output, r.Lse!);
    }

    /// <summary>Attention by the reference kernel (attention_ref.cu): the selftest's on-device cross-check of the flash kernel.</summary>
    public Tensor AttentionReference(Tensor q, Tensor k, Tensor v, float scale, Tensor? keyMask = null, bool causal = false, Tensor? bias = null) =>
        AttentionCore(q, k, v, scale, keyMask, causal, bias, null, withLse: false, forceReference: true, "Attention").Output;

    /// <summary>
    /// Attention written straight into a column slice of a bf16 [B, Sq, C] destination: the kernel's output row stride is
    /// C and its base the slice's first column, so nothing is copied afterwards (FLUX's cat(attention, mlp)).
    /// </summary>
    public void AttentionInto(Tensor destination, int columnOffset, Tensor q, Tensor k, Tensor v, float scale, Tensor? keyMask = null)
    {
        var cd = Own(destination);
        RequireRank(destination, 3, "AttentionInto", "destination");
        if (cd.DType != DType.BF16)
            throw new ArgumentException($"AttentionInto: destination {destination.Shape} is {cd.DType}; attention writes bf16.");
        RequireRank(q, 4, "Attention", "q");
        RequireRank(v, 4, "Attention", "v");
        ColumnSlice.Check("AttentionInto", destination, columnOffset, q.Shape[2] * v.Shape[3], (long)q.Shape[0] * q.Shape[1]);
        AttentionCore(q, k, v, scale, keyMask, false, null, null, withLse: false, ForceReferenceAttention, "AttentionInto", (cd, columnOffset));
    }

    /// <summary>
    /// The plan (kernel, variant, grid, shared memory, occupancy, split-KV) an attention call with these shapes would use;
    /// without <paramref name="sk"/> the key length is unknown and the plan never splits.
    /// </summary>
    public AttentionPlan PlanAttention(int batch, int sq, int hq, int d, int dv, int sk = 0, bool causal = false) =>
        AttentionPlan.Create(batch, sq, hq, d, dv, Limits, ForceReferenceAttention, FlashAttentionVariant, sk, causal, AttentionKvSplits);

    private (Tensor Output, Tensor? Lse, Tensor? Affinity) AttentionCore(Tensor q, Tensor k, Tensor v, float scale, Tensor? keyMask, bool causal,
        Tensor? bias, Tensor? keyWeights, bool withLse, bool forceReference, string name, (CudaTensor Tensor, int Column)? into = null,
        CudaTensor? accumulateScale = null)
    {
        // Same checks, in the same order and words, as the CPU reference.
        RequireRank(q, 4, "Attention", "q");
        RequireRank(k, 4, "Attention", "k");
        RequireRank(v, 4, "Attention", "v");
        int batch = q.Shape[0], sq = q.Shape[1], hq = q.Shape[2], d = q.Shape[3];
        int sk = k.Shape[1], hkv = k.Shape[2], dv = v.Shape[3];
        if (k.Shape[0] != batch || v.Shape[0] != batch || k.Shape[3] != d || v.Shape[1] != sk || v.Shape[2] != hkv)
            throw new ArgumentException($"Attention: incompatible q {q.Shape}, k {k.Shape}, v {v.Shape}.");
        if (hkv == 0 || hq % hkv != 0)
            throw new ArgumentException($"Attention: {hq} query heads are not a multiple of {hkv} key/value heads.");
        if (keyMask is not null && (keyMask.Shape.Rank != 2 || keyMask.Shape[0] != batch || keyMask.Shape[1] != sk))
            throw new ArgumentException($"Attention: key mask {keyMask.Shape} must be [{batch}, {sk}].");
        bool perBatchBias = bias is not null && bias.Shape.Rank == 4;
        if (bias is not null && !(bias.Shape == new Shape(hq, sq, sk) || bias.Shape == new Shape(batch, hq, sq, sk)))
            throw new ArgumentException($"Attention: bias {bias.Shape} must be [{hq}, {sq}, {sk}] or [{batch}, {hq}, {sq}, {sk}].");
        var cq = Float(q, name);
        var ck = Float(k, name);
        var cv = Float(v, name);
        var cm = keyMask is null ? null : Float(keyMask, name);
        var cbias = bias is null ? null : Float(bias, name);
        if (keyWeights is not null && (keyWeights.Shape.Rank != 2 || keyWeights.Shape[0] != batch || keyWeights.Shape[1] != sk))
            throw new ArgumentException($"Attention: key weights {keyWeights.Shape} must be [{batch}, {sk}].");
        var cw = keyWeights is null ? null : Float(keyWeights, name);
        var plan = AttentionPlan.Create(batch, sq, hq, d, dv, Limits, forceReference, FlashAttentionVariant, sk, causal, KvSplitsFor(cw is not null));
        if (hq > 65535 || batch > 65535)
            throw new NotSupportedException($"Attention: {batch} batches × {hq} heads exceed the CUDA grid limits (65535 each).");

        using var op = Enter(name, q, k, v);
        // The output: a new dense [B, Sq, Hq, Dv], or the column slice of AttentionInto's destination (row stride C).
        var o = into is null ? New(new Shape(batch, sq, hq, dv), DType.BF16) : null;
        var outPointer = into is { } slice ? slice.Tensor.Pointer + (ulong)slice.Column * 2 : o!.Pointer;
        int outStride = into is { } dst ? dst.Tensor.Shape.Last : hq * dv;
        var lse = withLse ? New(new Shape(batch, hq, sq), DType.F32) : null;
        var affinity = cw is null ? null : New(new Shape(batch, hq, sq), DType.F32);
        if ((long)batch * sq * hq * dv == 0 && (long)batch * hq * sq == 0)
            return (o!, lse, affinity);
        var qb = Bf16(cq);
        var kb = Bf16(ck);
        var vb = Bf16(cv);
        var mask = cm is null ? null : F32(cm);   // exact: "0 excludes a key" must not depend on rounding
        var biasb = cbias is null ? null : Bf16(cbias);
        var weights = cw is null ? null : F32(cw);
        var headScale = accumulateScale is null ? null : F32(accumulateScale); // AttentionAddScaledInto: o_dst += s[h]·o
        if (plan.Kernel == AttentionKernel.Flash)
            LaunchFlashAttention(plan, new FlashAttentionCall(qb.Pointer, kb.Pointer, vb.Pointer, outPointer, PointerOf(lse), PointerOf(mask),
                PointerOf(biasb), PointerOf(weights), PointerOf(affinity), batch, sq, sk, hq, hkv, d, dv, scale, causal, perBatchBias, outStride,
                PointerOf(headScale), hq * d, hkv * d, hkv * dv));
        else
            Launch(plan.KernelName, plan.GridX, plan.BlockThreads, 0,
                qb.Pointer, kb.Pointer, vb.Pointer, outPointer, PointerOf(lse), PointerOf(mask), PointerOf(biasb),
                PointerOf(weights), PointerOf(affinity), batch, sq, sk, hq, hkv, d, dv, scale, causal, perBatchBias, outStride,
                PointerOf(headScale), hq * d, hkv * d, hkv * dv);
        return (o!, lse, affinity);
    }
}
