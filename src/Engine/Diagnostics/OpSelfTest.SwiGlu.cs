using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Diagnostics;

/// <summary>The cases of Fusion 11 (issue 16): SwiGLU's gate-and-up GEMM with its SiLU·mul epilogue.</summary>
public static partial class OpSelfTest
{
    /// <summary>
    /// LinearSwiGlu's shapes (x [B, S, K], weight [2F, K]): one row; odd row counts, one past a 128-row tile; F below,
    /// off and above the kernel's 64-feature tile (odd F: the last pair of a row stored one bf16 at a time); K below, off
    /// and on the 32-wide K step; K 20 (not a multiple of 8: the split path serves it, on every knob).
    /// </summary>
    public static readonly (int B, int S, int K, int F)[] SwiGluShapes =
        [(1, 1, 8, 4), (2, 37, 40, 24), (1, 129, 96, 72), (1, 17, 20, 33), (2, 65, 64, 70), (1, 9, 256, 129)];

    /// <summary>
    /// Floor: the device rounds the gate and the up product to bf16 before SiLU·mul (as the split path's GEMM output is),
    /// which the fp32 reference does not; that moves an output by about 2⁻⁸·|g·u| at most, so the floor is 2⁻⁷ of the
    /// largest output (gate and up products and the outputs have the same scale here).
    /// </summary>
    private const double SwiGluFloor = 1.0 / 128;

    private static void AddSwiGlu(List<OpCase> cases)
    {
        foreach (var (b, s, k, f) in SwiGluShapes)
            cases.Add(new OpCase
            {
                Op = "LinearSwiGlu", Description = $"x{S(b, s, k)} w{S(2 * f, k)}", Floor = SwiGluFloor,
                Inputs = [new("x", [b, s, k], Magnitude: 2f), new("w", [2 * f, k], Magnitude: 1f / MathF.Sqrt(k) * 2)],
                Run = (be, t) => be.LinearSwiGlu(t[0], t[1]),
            });
        cases.Add(new OpCase
        {
            Op = "LinearSwiGlu", Description = "x[3,40] F32 w[48,40]", Floor = SwiGluFloor,
            Inputs = [new("x", [3, 40], InputKind.F32, Magnitude: 2f, RoundOnDevice: true), new("w", [48, 40], Magnitude: 0.3f)],
            Run = (be, t) => be.LinearSwiGlu(t[0], t[1]),
        });
        cases.Add(new OpCase
        {
            Op = "LinearSwiGlu", Description = "w[5,8] (odd row count refused)", Inputs = [new("x", [2, 8]), new("w", [5, 8])], ExpectsError = true,
            Run = (be, t) => be.LinearSwiGlu(t[0], t[1]),
        });
    }
}
