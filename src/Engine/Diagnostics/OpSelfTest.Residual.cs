using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Diagnostics;

/// <summary>The residual-path cases (issue 16): in-place ops, so the output is the updated residual.</summary>
public static partial class OpSelfTest
{
    private static void AddResidualPath(List<OpCase> cases)
    {
        // LinearAddGatedInPlace: a gate and a bias (the DiT blocks), a gate only, a bias only (alpha 1), N not a multiple of
        // 8, batch 1, 2 and 3 (cuBLASLt's strided batch). An fp32 residual is not a case: the device runs it as Linear (a
        // bf16 product) then add_gated_f32, outside this rule by construction; CudaGatedResidualTests checks that composition.
        foreach (var (b, s, k, n, gate, bias, f32) in new[] { (2, 37, 40, 24, true, true, false), (1, 130, 96, 72, true, false, false),
                     (2, 9, 64, 48, false, true, false), (1, 17, 20, 33, true, true, false), (3, 5, 16, 16, true, true, false) })
        {
            var inputs = new List<InputSpec>
            {
                new("r", [b, s, n], f32 ? InputKind.F32 : InputKind.Bf16, Magnitude: 2f),
                new("x", [b, s, k]),
                new("w", [n, k], Magnitude: 1f / MathF.Sqrt(k) * 2),
            };
            int bi = -1, gi = -1;
            if (bias) { bi = inputs.Count; inputs.Add(new("b", [n])); }
            if (gate) { gi = inputs.Count; inputs.Add(new("g", [b, n])); }
            cases.Add(new OpCase
            {
                Op = "LinearAddGatedInPlace",
                Description = $"r{S(b, s, n)}{(f32 ? " F32" : "")} x{S(b, s, k)} w{S(n, k)}{(bias ? " +b" : "")}{(gate ? " gate" : "")}",
                Inputs = inputs,
                Run = (be, t) => { be.LinearAddGatedInPlace(t[0], t[1], t[2], bi < 0 ? null : t[bi], gi < 0 ? null : t[gi]); return t[0]; },
            });
        }
        // RmsNormAddTanhGatedInPlace: Lumina's width (16-byte vector path), a small vector row, the scalar path without a
        // weight. (An fp32 residual composes the three ops, as LinearAddGatedInPlace's: checked in CudaGatedResidualTests.)
        foreach (var (shape, w, f32) in new[] { (new[] { 2, 9, 24 }, true, false), (new[] { 1, 33, 2304 }, true, false),
                     (new[] { 1, 7, 13 }, false, false) })
        {
            int b = shape[0], d = shape[2];
            var inputs = new List<InputSpec>
            {
                new("r", shape, f32 ? InputKind.F32 : InputKind.Bf16, Magnitude: 2f),
                new("y", shape, Magnitude: 3f),
                new("g", [b, d], Magnitude: 2f),
            };
            if (w) inputs.Add(new("w", [d]));
            cases.Add(new OpCase
            {
                Op = "RmsNormAddTanhGatedInPlace",
                Description = $"r{S(shape)}{(f32 ? " F32" : "")}{(w ? " w" : "")} gate",
                Inputs = inputs,
                Run = (be, t) => { be.RmsNormAddTanhGatedInPlace(t[0], t[1], 1e-5f, w ? t[3] : null, t[2]); return t[0]; },
            });
        }
        // RmsNormAddTanhGatedThenModulate: Lumina's FFN input after the attention update (scale only), every vector, the
        // scalar path; checked twice: the returned modulated rows, and the residual the op updated.
        foreach (var (shape, w, sh) in new[] { (new[] { 2, 9, 24 }, true, false), (new[] { 1, 33, 2304 }, true, false), (new[] { 1, 7, 13 }, false, true) })
        {
            int b = shape[0], d = shape[2];
            var inputs = new List<InputSpec>
            {
                new("r", shape, Magnitude: 2f), new("y", shape, Magnitude: 3f), new("g", [b, d], Magnitude: 2f), new("scale", [b, d]),
            };
            int wi = -1, hi = -1;
            if (w) { wi = inputs.Count; inputs.Add(new("w", [d])); inputs.Add(new("w2", [d])); }
            if (sh) { hi = inputs.Count; inputs.Add(new("shift", [b, d])); }
            Tensor Run(IBackend be, Tensor[] t) => be.RmsNormAddTanhGatedThenModulate(t[0], t[1], 1e-5f, wi < 0 ? null : t[wi], t[2],
                1e-6f, wi < 0 ? null : t[wi + 1], t[3], hi < 0 ? null : t[hi]);
            string what = $"r{S(shape)}{(w ? " w" : "")} gate scale{(sh ? " shift" : "")}";
            // The device normalises the residual as stored (bf16, the rows the unfused RmsNormModulate would read); the
            // low-precision reference rounds the residual only after the op, so the modulated rows carry one rounding it
            // does not have: up to half a bf16 ulp of each output (|δm| ≈ 2⁻⁹·|m|), the floor attention cases use.
            cases.Add(new OpCase { Op = "RmsNormAddTanhGatedThenModulate", Description = what + " → modulated", Inputs = inputs, Run = Run, Floor = 1.0 / 512 });
            cases.Add(new OpCase
            {
                Op = "RmsNormAddTanhGatedThenModulate", Description = what + " → residual", Inputs = inputs,
                Run = (be, t) => { Run(be, t); return t[0]; },
            });
        }
    }
}
