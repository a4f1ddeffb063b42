using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Diagnostics;

public static partial class OpSelfTest
{
    /// <summary>
    /// PrepareAttentionInputs (issue 16's QKV path): FLUX's double block (two parts, per-part norms, RoPE over the joint
    /// sequence, partial tables), its single block, SD3 (no norms, no RoPE: q, k and v are exact copies), SD3.5's qk-norm,
    /// grouped heads with bf16 tables and one norm, head widths 32…256 including 72 (a group of 16 lanes, 9 busy), and the
    /// shapes the CUDA kernel leaves to the separate passes (head width 20, three parts); Lumina's LayerNorm across heads
    /// (weights and biases over the whole width, GQA, hd 72, with and without RoPE, two parts). The output is q, k and v
    /// flattened per batch item and joined, so one comparison covers all three.
    /// </summary>
    /// <summary>
    /// Tolerance floor of a q/k preparation case. Where the CUDA backend runs the norm and RoPE as separate passes (head
    /// widths its fused kernel does not take, more than two parts), it stores the normalised q and k in bf16 before rotating
    /// them: one rounding the low-precision reference, which rotates the unrounded values, does not have. RoPE mixes two such
    /// values per output (|δ| ≤ √2 · 2⁻⁹ · max|x|), so those cases get one bf16 step (2⁻⁸) of the output scale; CI drew an
    /// input where that rounding alone exceeded 2× the reference error. The fused kernels keep the default floor.
    /// </summary>
    private static double QkPreparationFloor(string what) => what.Contains("separate passes", StringComparison.Ordinal) ? 1.0 / 256 : OpCase.DefaultFloor;

    private static void AddAttentionInputs(List<OpCase> cases)
    {
        var shapes = new (string What, int B, int[] Tokens, int H, int Hkv, int Hd, bool NormQ, bool NormK, int Pairs, InputKind Tables, QkNorm Norm)[]
        {
            ("FLUX double", 1, [5, 9], 3, 3, 128, true, true, 64, InputKind.F32, QkNorm.RmsPerHead),
            ("FLUX single", 2, [11], 2, 2, 128, true, true, 56, InputKind.F32, QkNorm.RmsPerHead),
            ("SD3", 2, [7, 4], 3, 3, 64, false, false, 0, InputKind.F32, QkNorm.RmsPerHead),
            ("SD3.5 qk-norm", 2, [6, 3], 2, 2, 64, true, true, 0, InputKind.F32, QkNorm.RmsPerHead),
            ("GQA", 1, [9], 4, 2, 32, true, false, 16, InputKind.Bf16, QkNorm.RmsPerHead),
            ("hd 72", 2, [3, 5], 2, 1, 72, true, true, 36, InputKind.F32, QkNorm.RmsPerHead),
            ("hd 256", 1, [4], 2, 2, 256, true, true, 128, InputKind.F32, QkNorm.RmsPerHead),
            ("hd 20 (separate passes)", 1, [3, 4], 2, 2, 20, true, true, 10, InputKind.F32, QkNorm.RmsPerHead),
            ("three parts (separate passes)", 1, [2, 3, 4], 2, 2, 16, true, true, 8, InputKind.F32, QkNorm.RmsPerHead),
            ("Lumina attn1", 2, [9], 4, 2, 72, true, true, 36, InputKind.F32, QkNorm.LayerNormAcrossHeads),
            ("LayerNorm across heads, two parts", 1, [5, 3], 2, 2, 64, true, true, 0, InputKind.F32, QkNorm.LayerNormAcrossHeads),
            ("LayerNorm across heads, q only", 1, [6], 3, 1, 32, true, false, 8, InputKind.Bf16, QkNorm.LayerNormAcrossHeads),
        };
        foreach (var c in shapes)
        {
            int width = (c.H + 2 * c.Hkv) * c.Hd, sequence = c.Tokens.Sum();
            var inputs = new List<InputSpec>();
            foreach (int n in c.Tokens)
            {
                inputs.Add(new($"qkv{inputs.Count}", [c.B, n, width], Magnitude: 3f));
                bool across = c.Norm == QkNorm.LayerNormAcrossHeads;
                if (c.NormQ) inputs.Add(new("normQ", [across ? c.H * c.Hd : c.Hd]));
                if (c.NormK) inputs.Add(new("normK", [across ? c.Hkv * c.Hd : c.Hd]));
                if (c.NormQ && across) inputs.Add(new("biasQ", [c.H * c.Hd]));
                if (c.NormK && across) inputs.Add(new("biasK", [c.Hkv * c.Hd]));
            }
            int tables = inputs.Count;
            if (c.Pairs > 0)
            {
                inputs.Add(new("cos", [sequence, c.Pairs], c.Tables));
                inputs.Add(new("sin", [sequence, c.Pairs], c.Tables));
            }
            int norms = (c.NormQ ? 1 : 0) + (c.NormK ? 1 : 0), perPart = 1 + norms * (c.Norm == QkNorm.LayerNormAcrossHeads ? 2 : 1);
            cases.Add(new OpCase
            {
                Op = AttentionInputsOp.Name, Floor = QkPreparationFloor(c.What),
                Description = $"{c.What}: {c.Norm} B {c.B} tokens {string.Join("+", c.Tokens)} H {c.H}/{c.Hkv} hd {c.Hd}{(c.NormQ ? " normQ" : "")}{(c.NormK ? " normK" : "")} " +
                              (c.Pairs > 0 ? $"RoPE P{c.Pairs} tables {c.Tables}" : "no RoPE"),
                Inputs = inputs,
                Run = (be, t) =>
                {
                    var parts = new QkvPart[c.Tokens.Length];
                    for (int p = 0; p < parts.Length; p++)
                    {
                        int at = p * perPart;
                        Tensor? nq = c.NormQ ? t[at + 1] : null, nk = c.NormK ? t[at + 1 + (c.NormQ ? 1 : 0)] : null;
                        bool biases = c.Norm == QkNorm.LayerNormAcrossHeads;
                        Tensor? bq = biases && c.NormQ ? t[at + 1 + norms] : null, bk = biases && c.NormK ? t[at + 1 + norms + (c.NormQ ? 1 : 0)] : null;
                        parts[p] = new QkvPart(t[at], nq, nk, bq, bk);
                    }
                    var r = be.PrepareAttentionInputs(parts, c.H, c.Hkv, c.Hd, 1e-6f, c.Pairs > 0 ? t[tables] : null, c.Pairs > 0 ? t[tables + 1] : null, c.Norm);
                    return be.Concat(1, r.Q.Reshape(c.B, sequence * c.H * c.Hd), r.K.Reshape(c.B, sequence * c.Hkv * c.Hd),
                        r.V.Reshape(c.B, sequence * c.Hkv * c.Hd));
                },
            });
        }
        // LinearOfRows: a joint attention's output projections reading their rows in place (batch 2: one GEMM per item;
        // K 12: rows off the 256-byte alignment, gemm.cu).
        foreach (var (batch, seq, start, count, k, n, bias) in new[] { (2, 9, 3, 5, 16, 24, true), (1, 7, 0, 4, 40, 8, false), (2, 5, 2, 3, 12, 10, true) })
            cases.Add(new OpCase
            {
                Op = "LinearOfRows", Description = $"x{S(batch, seq, k)} rows {start}…{start + count} w{S(n, k)}{(bias ? " +b" : "")}",
                Inputs = bias ? [new("x", [batch, seq, k]), new("w", [n, k]), new("b", [n])] : [new("x", [batch, seq, k]), new("w", [n, k])],
                Run = (be, t) => be.LinearOfRows(t[0], start, count, t[1], bias ? t[2] : null),
            });
        cases.Add(new OpCase
        {
            Op = "LinearOfRows[error]", Description = "rows out of range", Inputs = [new("x", [1, 4, 8]), new("w", [3, 8])], ExpectsError = true,
            Run = (be, t) => be.LinearOfRows(t[0], 2, 3, t[1], null),
        });
        void E(string d, InputSpec[] inputs, Func<IBackend, Tensor[], Tensor> run) =>
            cases.Add(new OpCase { Op = AttentionInputsOp.Name + "[error]", Description = d, Inputs = inputs, Run = run, ExpectsError = true });
        E("part width", [new("qkv", [1, 3, 40])], (be, t) => be.PrepareAttentionInputs([new QkvPart(t[0])], 2, 2, 8, 1e-6f).Q);
        E("norm width", [new("qkv", [1, 3, 48]), new("w", [6])], (be, t) => be.PrepareAttentionInputs([new QkvPart(t[0], t[1])], 2, 2, 8, 1e-6f).Q);
        E("table rows", [new("qkv", [1, 3, 48]), new("c", [4, 4]), new("s", [4, 4])],
            (be, t) => be.PrepareAttentionInputs([new QkvPart(t[0])], 2, 2, 8, 1e-6f, t[1], t[2]).Q);
        E("bias without LayerNorm", [new("qkv", [1, 3, 48]), new("w", [8]), new("b", [16])],
            (be, t) => be.PrepareAttentionInputs([new QkvPart(t[0], t[1], NormQBias: t[2])], 2, 2, 8, 1e-6f).Q);
        E("batch mismatch", [new("a", [1, 3, 48]), new("b", [2, 3, 48])],
            (be, t) => be.PrepareAttentionInputs([new QkvPart(t[0]), new QkvPart(t[1])], 2, 2, 8, 1e-6f).Q);
    }
}
