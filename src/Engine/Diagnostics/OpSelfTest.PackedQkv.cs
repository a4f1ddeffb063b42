using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Diagnostics;

public static partial class OpSelfTest
{
    /// <summary>
    /// Fusion 7 of issue 16: LinearIntoRows (two streams' QKV GEMMs filling one packed buffer by row ranges, batch 1 and 2,
    /// K 12: rows off the 256-byte alignment, gemm.cu's batched entry; N = K = 128: every row start and batch stride on it, so
    /// cuBLASLt's strided-batch matmul (Fusion 10); the whole buffer in one GEMM) and AttentionPacked (q, k and v read in
    /// place from the packed buffer) for head widths 16…256: 64 and 128 (FLUX, SD3), 72 (Lumina, the 80 path), 256 (the
    /// reference kernel), and widths whose rows are not 16-byte aligned (hd 20, 12: the element-wise loads).
    /// </summary>
    private static void AddPackedQkv(List<OpCase> cases)
    {
        foreach (var (batch, seq, offset, rows, k, n, bias) in new[] { (2, 9, 3, 5, 16, 24, true), (1, 7, 4, 3, 40, 8, false), (2, 6, 0, 6, 12, 10, true), (2, 10, 4, 4, 128, 128, true) })
            cases.Add(new OpCase
            {
                Op = "LinearIntoRows", Description = $"x{S(batch, rows, k)} w{S(n, k)}{(bias ? " +b" : "")} → rows {offset}…{offset + rows} of {S(batch, seq, n)}",
                Inputs = bias
                    ? [new("dst", [batch, seq, n]), new("x", [batch, rows, k]), new("w", [n, k]), new("b", [n])]
                    : [new("dst", [batch, seq, n]), new("x", [batch, rows, k]), new("w", [n, k])],
                Run = (be, t) =>
                {
                    be.LinearIntoRows(t[0], offset, t[1], t[2], bias ? t[3] : null);
                    return t[0];
                },
            });
        cases.Add(new OpCase
        {
            Op = "LinearIntoRows[error]", Description = "rows out of range", Inputs = [new("dst", [1, 4, 3]), new("x", [1, 3, 8]), new("w", [3, 8])],
            ExpectsError = true, Run = (be, t) => { be.LinearIntoRows(t[0], 2, t[1], t[2], null); return t[0]; },
        });
        foreach (var (batch, seq, heads, kvHeads, hd) in PackedAttentionShapes)
        {
            float scale = 1f / MathF.Sqrt(hd);
            var inputs = new List<InputSpec> { new("qkv", [batch, seq, (heads + 2 * kvHeads) * hd], Magnitude: 2f) };
            string d = $"B{batch} S{seq} H{heads}/{kvHeads} hd{hd}";
            cases.Add(new OpCase { Op = "AttentionPacked", Description = d, Inputs = inputs, Floor = 1.0 / 512,
                Run = (be, t) => be.AttentionPacked(new PackedQkv(t[0], heads, kvHeads, hd), scale) });
            if ((long)batch * seq * heads * seq > 60_000) continue;
            cases.Add(new OpCase { Op = "AttentionPacked[reference kernel]", Description = d, Inputs = inputs, Floor = 1.0 / 512,
                Run = (be, t) =>
                {
                    if (be is not CudaBackend gpu) return be.AttentionPacked(new PackedQkv(t[0], heads, kvHeads, hd), scale);
                    bool saved = gpu.ForceReferenceAttention;
                    gpu.ForceReferenceAttention = true;
                    try { return gpu.AttentionPacked(new PackedQkv(t[0], heads, kvHeads, hd), scale); }
                    finally { gpu.ForceReferenceAttention = saved; }
                } });
        }
        // AttentionPackedInto: FLUX's single blocks, the attention columns between others.
        cases.Add(new OpCase
        {
            Op = "AttentionPackedInto", Description = "B2 S33 H2/2 hd64 → columns 8…136 of [2,33,141]", Floor = 1.0 / 512,
            Inputs = [new("dst", [2, 33, 141]), new("qkv", [2, 33, 6 * 64], Magnitude: 2f)],
            Run = (be, t) => { be.AttentionPackedInto(t[0], 8, new PackedQkv(t[1], 2, 2, 64), 0.125f); return t[0]; },
        });
        // PrepareAttentionInputsInPlace: FLUX's double block (two parts, per-part norms, RoPE), its single block, SD3.5
        // (norms, no RoPE), GQA with one norm, hd 256, and hd 20 / three parts (the separate passes, then copies back).
        foreach (var (what, batch, tokens, heads, kvHeads, hd, normK, pairs) in new (string, int, int[], int, int, int, bool, int)[]
                 {
                     ("FLUX double", 1, [5, 9], 3, 3, 128, true, 64), ("FLUX single", 2, [11], 2, 2, 128, true, 56),
                     ("SD3.5", 2, [6, 3], 2, 2, 64, true, 0), ("GQA", 1, [9], 4, 2, 32, false, 16), ("hd 256", 1, [4], 2, 2, 256, true, 128),
                     ("hd 20 (separate passes)", 1, [3, 4], 2, 2, 20, true, 10), ("three parts (separate passes)", 1, [2, 3, 4], 2, 2, 16, true, 8),
                 })
        {
            int sequence = tokens.Sum(), width = (heads + 2 * kvHeads) * hd, perPart = normK ? 2 : 1;
            var inputs = new List<InputSpec> { new("qkv", [batch, sequence, width], Magnitude: 3f) };
            foreach (int _ in tokens)
            {
                inputs.Add(new("normQ", [hd]));
                if (normK) inputs.Add(new("normK", [hd]));
            }
            int tables = inputs.Count;
            if (pairs > 0)
            {
                inputs.Add(new("cos", [sequence, pairs], InputKind.F32));
                inputs.Add(new("sin", [sequence, pairs], InputKind.F32));
            }
            cases.Add(new OpCase
            {
                Op = "PrepareAttentionInputsInPlace", Inputs = inputs, Floor = QkPreparationFloor(what),
                Description = $"{what}: B {batch} tokens {string.Join("+", tokens)} H {heads}/{kvHeads} hd {hd}{(pairs > 0 ? $" RoPE P{pairs}" : "")}",
                Run = (be, t) =>
                {
                    var parts = tokens.Select((n, p) => new QkvPartNorms(n, t[1 + p * perPart], normK ? t[2 + p * perPart] : null)).ToArray();
                    be.PrepareAttentionInputsInPlace(new PackedQkv(t[0], heads, kvHeads, hd), parts, 1e-6f,
                        pairs > 0 ? t[tables] : null, pairs > 0 ? t[tables + 1] : null);
                    return t[0];
                },
            });
        }
        cases.Add(new OpCase
        {
            Op = "PrepareAttentionInputsInPlace[error]", Description = "parts do not add up to the sequence", Inputs = [new("qkv", [1, 5, 48])],
            ExpectsError = true, Run = (be, t) => { be.PrepareAttentionInputsInPlace(new PackedQkv(t[0], 2, 2, 8), [new QkvPartNorms(3)], 1e-6f); return t[0]; },
        });
        cases.Add(new OpCase
        {
            Op = "AttentionPacked[error]", Description = "buffer width is not (H + 2·Hkv)·hd", Inputs = [new("qkv", [1, 4, 40])], ExpectsError = true,
            Run = (be, t) => be.AttentionPacked(new PackedQkv(t[0], 2, 2, 8), 1f),
        });
    }

    /// <summary>AttentionPacked's shapes (B, S, H, Hkv, hd), shared with the CUDA backend's bit-exactness tests.</summary>
    public static readonly (int B, int S, int H, int Hkv, int Hd)[] PackedAttentionShapes =
    [
        (2, 37, 4, 2, 16), (1, 70, 3, 3, 64), (1, 45, 2, 2, 72), (2, 30, 2, 2, 128), (1, 130, 2, 1, 64),
        (1, 20, 2, 1, 20), (1, 17, 1, 1, 12), (1, 9, 2, 2, 256),
    ];
}
