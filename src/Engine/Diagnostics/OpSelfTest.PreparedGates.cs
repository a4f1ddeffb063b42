using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Diagnostics;

/// <summary>The cases of gates prepared once per block (issue 16, FLUX launches): the prepared gates used by gated projections.</summary>
public static partial class OpSelfTest
{
    /// <summary>
    /// PrepareGates, then each prepared gate used on a residual of its own (each part's vectors at its own offset; one
    /// rounding per residual), the residuals returned side by side: a FLUX
    /// double block's four gates with biases (one without), five gates (two launches of four and one), and a gated
    /// projection over a row range (the joint attention's to_add_out) with each of two gates.
    /// </summary>
    public static readonly (int B, int S, int K, int N, bool[] Biases, int Start, int Count)[] PreparedGateShapes =
    [
        (2, 9, 40, 24, [true, true, false, true], 0, 0),
        (1, 17, 16, 16, [true, false, true, true, false], 0, 0),
        (2, 9, 128, 24, [false, true], 5, 4),
    ];

    private static void AddPreparedGates(List<OpCase> cases)
    {
        foreach (var (b, s, k, n, biases, start, count) in PreparedGateShapes)
        {
            bool rows = count > 0;
            int parts = biases.Length;
            var inputs = new List<InputSpec> { new("x", [b, s, k]) };
            int first = inputs.Count;
            for (int p = 0; p < parts; p++)
            {
                inputs.Add(new($"r{p}", [b, rows ? count : s, n], InputKind.Bf16, Magnitude: 2f));
                inputs.Add(new($"w{p}", [n, k], Magnitude: 1f / MathF.Sqrt(k) * 2));
                inputs.Add(new($"g{p}", [b, n]));
                if (biases[p]) inputs.Add(new($"b{p}", [n]));
            }
            cases.Add(new OpCase
            {
                Op = "PrepareGates",
                Description = $"{parts} gates [{b}, {n}] r{S(b, rows ? count : s, n)} x{S(b, s, k)}{(rows ? $" rows {start}…{start + count}" : "")}",
                Inputs = inputs,
                Run = (be, t) =>
                {
                    var entries = new List<(Tensor Gate, Tensor? Bias)>();
                    var residuals = new List<Tensor>();
                    var weights = new List<Tensor>();
                    for (int p = 0, i = first; p < parts; p++)
                    {
                        residuals.Add(t[i++]);
                        weights.Add(t[i++]);
                        Tensor gate = t[i++];
                        entries.Add((gate, biases[p] ? t[i++] : null));
                    }
                    var prepared = be.PrepareGates(entries);
                    for (int p = 0; p < parts; p++)
                    {
                        if (rows) be.LinearOfRowsAddPreparedGateInPlace(residuals[p], t[0], start, count, weights[p], prepared[p]);
                        else be.LinearAddPreparedGateInPlace(residuals[p], t[0], weights[p], prepared[p]);
                    }
                    return be.Concat(2, residuals.ToArray());
                },
            });
        }
        cases.Add(new OpCase
        {
            Op = "PrepareGates[error]", Description = "gates of two shapes",
            Inputs = [new("g", [1, 4]), new("h", [1, 5])], ExpectsError = true,
            Run = (be, t) => { be.PrepareGates([(t[0], null), (t[1], null)]); return t[0]; },
        });
    }
}
