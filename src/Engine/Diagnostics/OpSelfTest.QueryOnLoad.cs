using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Diagnostics;

public static partial class OpSelfTest
{
    /// <summary>
    /// Fusion 15 of issue 16 (Lumina's q LayerNormed across heads and rotated as the attention loads it, never written):
    /// PrepareKeyQueryStatistics (its k and, as a case of its own, q's per-token statistics, where its kernel takes the shape), AttentionQueryOnLoad (attn1: q's
    /// raw columns, k, v in the buffer) and AttentionAddScaledIntoQueryOnLoad (attn2 adding into attn1's output with the shared
    /// query, caption keys under a mask): Lumina's hd 72 (the 80 path), hd 32 without bias, hd 128; hd 256 (the reference
    /// kernel: q materialised by the host) and hd 20 (the kernel does not take it: q materialised by PrepareQueryKey); the
    /// reference kernel forced on the smaller shapes; the errors.
    /// </summary>
    private static void AddQueryOnLoad(List<OpCase> cases)
    {
        foreach (var (batch, seq, heads, kvHeads, hd, pairs, bias) in QueryOnLoadShapes)
        {
            var inputs = new List<InputSpec>
            {
                new("qkv", [batch, seq, (heads + 2 * kvHeads) * hd], Magnitude: 3f), new("normQ", [heads * hd]), new("normK", [kvHeads * hd]),
                new("biasQ", [heads * hd]), new("biasK", [kvHeads * hd]), new("cos", [seq, pairs], InputKind.F32), new("sin", [seq, pairs], InputKind.F32),
                new("destination", [batch, seq, heads, hd]), new("headScale", [heads], InputKind.F32),
                new("captionK", [batch, 12, kvHeads, hd], Magnitude: 2f), new("captionV", [batch, 12, kvHeads, hd]), new("mask", [batch, 12], InputKind.Mask),
            };
            string d = $"B{batch} S{seq} H{heads}/{kvHeads} hd{hd} RoPE P{pairs}{(bias ? " bias" : "")}";
            float scale = 1f / MathF.Sqrt(hd);
            QueryOnLoadInputs Prepare(IBackend be, Tensor[] t) => be.PrepareKeyQueryStatistics(
                new QkvPart(t[0], t[1], t[2], bias ? t[3] : null, bias ? t[4] : null), heads, kvHeads, hd, 1e-5f, t[5], t[6]);
            // k and the statistics where the kernel takes the shape; elsewhere k is PrepareQueryKey's separate passes (two
            // roundings: that op's own cases), and only the attentions over the materialised q are cases here.
            if (CudaBackend.QueryOnLoadFits(batch, seq, heads, kvHeads, hd))
            {
                cases.Add(new OpCase { Op = QueryOnLoadOp.PrepareName, Description = d, Inputs = inputs, Run = (be, t) => Prepare(be, t).K });
                cases.Add(new OpCase { Op = QueryOnLoadOp.PrepareName + "[statistics]", Description = d, Inputs = inputs,
                    Run = (be, t) => Prepare(be, t).Query.Statistics! });
            }
            foreach (bool reference in new[] { false, true })
            {
                if (reference && (long)batch * seq * heads * seq > 60_000) continue;
                string suffix = reference ? "[reference kernel]" : "";
                cases.Add(new OpCase { Op = QueryOnLoadOp.AttentionName + suffix, Description = d, Inputs = inputs, Floor = 1.0 / 512,
                    Run = (be, t) => Forced(be, reference, () => be.AttentionQueryOnLoad(Prepare(be, t), scale)) });
                cases.Add(new OpCase { Op = QueryOnLoadOp.AccumulateName + suffix, Description = d + " + 12 caption keys, mask", Inputs = inputs, Floor = 1.0 / 512,
                    Run = (be, t) => Forced(be, reference, () =>
                    {
                        be.AttentionAddScaledIntoQueryOnLoad(t[7], t[8], Prepare(be, t).Query, t[9], t[10], 0.3f, t[11]);
                        return t[7];
                    }) });
            }
        }
        cases.Add(new OpCase
        {
            Op = QueryOnLoadOp.PrepareName + "[error]", Description = "q without a LayerNorm weight", ExpectsError = true,
            Inputs = [new("qkv", [1, 3, 64]), new("normK", [16])],
            Run = (be, t) => be.PrepareKeyQueryStatistics(new QkvPart(t[0], null, t[1]), 2, 1, 16, 1e-5f).K,
        });
        cases.Add(new OpCase
        {
            Op = QueryOnLoadOp.AccumulateName + "[error]", Description = "a head scale per key head", ExpectsError = true,
            Inputs = [new("qkv", [1, 3, 64]), new("normQ", [32]), new("destination", [1, 3, 2, 16]), new("headScale", [1], InputKind.F32),
                new("k", [1, 4, 1, 16]), new("v", [1, 4, 1, 16])],
            Run = (be, t) =>
            {
                var query = be.PrepareKeyQueryStatistics(new QkvPart(t[0], t[1]), 2, 1, 16, 1e-5f).Query;
                be.AttentionAddScaledIntoQueryOnLoad(t[2], t[3], query, t[4], t[5], 1f);
                return t[2];
            },
        });

        // The CUDA backend with the reference kernel forced for one call (any other backend: the call as it is).
        static Tensor Forced(IBackend be, bool reference, Func<Tensor> run)
        {
            if (!reference || be is not CudaBackend gpu) return run();
            bool saved = gpu.ForceReferenceAttention;
            gpu.ForceReferenceAttention = true;
            try { return run(); }
            finally { gpu.ForceReferenceAttention = saved; }
        }
    }

    /// <summary>The query-on-load ops' shapes (B, S, H, Hkv, hd, RoPE pairs, q/k norm biases).</summary>
    public static readonly (int B, int S, int H, int Hkv, int Hd, int Pairs, bool Bias)[] QueryOnLoadShapes =
    [
        (2, 45, 4, 2, 72, 36, true), (1, 70, 2, 1, 32, 8, false), (1, 30, 2, 2, 128, 64, true), (1, 9, 2, 2, 256, 16, true), (1, 20, 2, 1, 20, 10, true),
    ];
}
