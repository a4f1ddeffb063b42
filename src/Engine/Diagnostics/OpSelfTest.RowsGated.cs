using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Diagnostics;

/// <summary>The cases of Fusion 6 (issue 16): the gated projection over a row range of its input, read in place.</summary>
public static partial class OpSelfTest
{
    /// <summary>
    /// LinearOfRowsAddGatedInPlace: the (image) rows first and the (text) rows after them, batch 1, 2 and 3 (cuBLASLt's
    /// strided batch with the whole sequence's stride), with and without gate and bias; K 40 and 16 put the first row off
    /// the 256-byte alignment (the slice path).
    /// </summary>
    public static readonly (int B, int S, int Start, int Count, int K, int N, bool Gate, bool Bias)[] RowsGatedShapes =
    [
        (2, 9, 0, 5, 128, 24, true, true), (2, 9, 5, 4, 128, 24, true, true), (2, 6, 2, 3, 64, 16, false, false),
        (1, 12, 4, 8, 64, 33, true, false), (1, 7, 3, 4, 40, 8, false, true), (3, 5, 1, 3, 16, 10, true, true),
    ];

    private static void AddRowsGated(List<OpCase> cases)
    {
        foreach (var (b, s, start, count, k, n, gate, bias) in RowsGatedShapes)
        {
            var inputs = new List<InputSpec>
            {
                new("r", [b, count, n], InputKind.Bf16, Magnitude: 2f),
                new("x", [b, s, k]),
                new("w", [n, k], Magnitude: 1f / MathF.Sqrt(k) * 2),
            };
            int bi = -1, gi = -1;
            if (bias) { bi = inputs.Count; inputs.Add(new("b", [n])); }
            if (gate) { gi = inputs.Count; inputs.Add(new("g", [b, n])); }
            cases.Add(new OpCase
            {
                Op = "LinearOfRowsAddGatedInPlace",
                Description = $"r{S(b, count, n)} x{S(b, s, k)} rows {start}…{start + count} w{S(n, k)}{(bias ? " +b" : "")}{(gate ? " gate" : "")}",
                Inputs = inputs,
                Run = (be, t) =>
                {
                    be.LinearOfRowsAddGatedInPlace(t[0], t[1], start, count, t[2], bi < 0 ? null : t[bi], gi < 0 ? null : t[gi]);
                    return t[0];
                },
            });
        }
        cases.Add(new OpCase
        {
            Op = "LinearOfRowsAddGatedInPlace[error]", Description = "residual not the rows' product shape",
            Inputs = [new("r", [1, 3, 4]), new("x", [1, 6, 8]), new("w", [4, 8])], ExpectsError = true,
            Run = (be, t) => { be.LinearOfRowsAddGatedInPlace(t[0], t[1], 0, 2, t[2], null, null); return t[0]; },
        });
    }
}
