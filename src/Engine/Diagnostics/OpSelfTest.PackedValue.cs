using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Diagnostics;

public static partial class OpSelfTest
{
    /// <summary>
    /// Fusion 13 of issue 16 (Lumina's self-attention reads v where the fused Q/K/V GEMM wrote it): PrepareQueryKey — q and
    /// k only, LayerNorm across heads with biases (Lumina's attn1: GQA, hd 72, RoPE), q-only norm with bf16 tables, per-head
    /// RMSNorm, no norm, and hd 20 (the separate passes) — and AttentionPackedValue — q and k contiguous, v read from the
    /// buffer's value columns with its row stride: every query row (a dense step), a few focus rows over every token's keys
    /// (a sparse step), head widths 16…256 (72: the 80 path; 20: rows off the 16-byte alignment, element loads; 256: the
    /// reference kernel), and the reference kernel forced on the smaller shapes.
    /// </summary>
    private static void AddPackedValue(List<OpCase> cases)
    {
        foreach (var (what, batch, seq, heads, kvHeads, hd, norm, normQ, normK, pairs, tables) in new (string, int, int, int, int, int, QkNorm, bool, bool, int, InputKind)[]
                 {
                     ("Lumina attn1", 2, 9, 4, 2, 72, QkNorm.LayerNormAcrossHeads, true, true, 36, InputKind.F32),
                     ("LayerNorm across heads, q only", 1, 6, 3, 1, 32, QkNorm.LayerNormAcrossHeads, true, false, 8, InputKind.Bf16),
                     ("per-head RMSNorm, GQA", 2, 7, 4, 2, 64, QkNorm.RmsPerHead, true, true, 16, InputKind.F32),
                     ("no norm, no RoPE", 1, 5, 2, 2, 16, QkNorm.RmsPerHead, false, false, 0, InputKind.F32),
                     ("hd 20 (separate passes)", 1, 7, 2, 1, 20, QkNorm.RmsPerHead, true, true, 10, InputKind.F32),
                 })
        {
            bool across = norm == QkNorm.LayerNormAcrossHeads;
            var inputs = new List<InputSpec> { new("qkv", [batch, seq, (heads + 2 * kvHeads) * hd], Magnitude: 3f) };
            int at = inputs.Count;
            if (normQ) inputs.Add(new("normQ", [across ? heads * hd : hd]));
            if (normK) inputs.Add(new("normK", [across ? kvHeads * hd : hd]));
            if (normQ && across) inputs.Add(new("biasQ", [heads * hd]));
            if (normK && across) inputs.Add(new("biasK", [kvHeads * hd]));
            int table = inputs.Count;
            if (pairs > 0)
            {
                inputs.Add(new("cos", [seq, pairs], tables));
                inputs.Add(new("sin", [seq, pairs], tables));
            }
            cases.Add(new OpCase
            {
                Op = PackedValueOp.PrepareName, Inputs = inputs, Floor = QkPreparationFloor(what),
                Description = $"{what}: {norm} B {batch} S {seq} H {heads}/{kvHeads} hd {hd}{(pairs > 0 ? $" RoPE P{pairs} tables {tables}" : "")}",
                Run = (be, t) =>
                {
                    int i = at;
                    Tensor? nq = normQ ? t[i++] : null, nk = normK ? t[i++] : null;
                    Tensor? bq = normQ && across ? t[i++] : null, bk = normK && across ? t[i] : null;
                    var r = be.PrepareQueryKey(new QkvPart(t[0], nq, nk, bq, bk), heads, kvHeads, hd, 1e-6f,
                        pairs > 0 ? t[table] : null, pairs > 0 ? t[table + 1] : null, norm);
                    return be.Concat(1, r.Q.Reshape(batch, seq * heads * hd), r.K.Reshape(batch, seq * kvHeads * hd));
                },
            });
        }
        foreach (var (batch, rows, seq, heads, kvHeads, hd) in PackedValueAttentionShapes)
        {
            float scale = 1f / MathF.Sqrt(hd);
            InputSpec[] inputs =
            [
                new("q", [batch, rows, heads, hd], Magnitude: 2f), new("k", [batch, seq, kvHeads, hd], Magnitude: 2f),
                new("qkv", [batch, seq, (heads + 2 * kvHeads) * hd], Magnitude: 2f),
            ];
            string d = $"B{batch} {rows} of {seq} rows H{heads}/{kvHeads} hd{hd}";
            cases.Add(new OpCase { Op = PackedValueOp.AttentionName, Description = d, Inputs = inputs, Floor = 1.0 / 512,
                Run = (be, t) => be.AttentionPackedValue(t[0], t[1], new PackedQkv(t[2], heads, kvHeads, hd), scale) });
            if ((long)batch * rows * heads * seq > 60_000) continue;
            cases.Add(new OpCase { Op = PackedValueOp.AttentionName + "[reference kernel]", Description = d, Inputs = inputs, Floor = 1.0 / 512,
                Run = (be, t) =>
                {
                    var packed = new PackedQkv(t[2], heads, kvHeads, hd);
                    if (be is not CudaBackend gpu) return be.AttentionPackedValue(t[0], t[1], packed, scale);
                    bool saved = gpu.ForceReferenceAttention;
                    gpu.ForceReferenceAttention = true;
                    try { return gpu.AttentionPackedValue(t[0], t[1], packed, scale); }
                    finally { gpu.ForceReferenceAttention = saved; }
                } });
        }
        void E(string d, InputSpec[] inputs, Func<IBackend, Tensor[], Tensor> run) =>
            cases.Add(new OpCase { Op = PackedValueOp.AttentionName + "[error]", Description = d, Inputs = inputs, Run = run, ExpectsError = true });
        E("k's tokens are not the buffer's", [new("q", [1, 3, 2, 8]), new("k", [1, 4, 1, 8]), new("qkv", [1, 3, 32])],
            (be, t) => be.AttentionPackedValue(t[0], t[1], new PackedQkv(t[2], 2, 1, 8), 1f));
        E("q's heads are not the buffer's", [new("q", [1, 3, 4, 8]), new("k", [1, 3, 1, 8]), new("qkv", [1, 3, 32])],
            (be, t) => be.AttentionPackedValue(t[0], t[1], new PackedQkv(t[2], 2, 1, 8), 1f));
        E("buffer width is not (H + 2·Hkv)·hd", [new("q", [1, 3, 2, 8]), new("k", [1, 3, 1, 8]), new("qkv", [1, 3, 40])],
            (be, t) => be.AttentionPackedValue(t[0], t[1], new PackedQkv(t[2], 2, 1, 8), 1f));
        cases.Add(new OpCase
        {
            Op = PackedValueOp.PrepareName + "[error]", Description = "LayerNorm weight of one head's width", ExpectsError = true,
            Inputs = [new("qkv", [1, 3, 64]), new("w", [16])],
            Run = (be, t) => be.PrepareQueryKey(new QkvPart(t[0], t[1]), 2, 1, 16, 1e-6f, norm: QkNorm.LayerNormAcrossHeads).Q,
        });
    }

    /// <summary>AttentionPackedValue's shapes (B, query rows, S, H, Hkv, hd), shared with the CUDA backend's bit-exactness tests.</summary>
    public static readonly (int B, int Rows, int S, int H, int Hkv, int Hd)[] PackedValueAttentionShapes =
    [
        (2, 45, 45, 4, 2, 72), (2, 11, 40, 4, 2, 72), (2, 37, 37, 4, 2, 16), (1, 20, 20, 2, 1, 20), (1, 30, 30, 2, 2, 128),
        (1, 9, 9, 2, 2, 256),
    ];
}
