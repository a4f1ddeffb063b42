using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Counting;

/// <summary>The counting rule of gates prepared once per block (issue 16, FLUX launches), as CudaBackend.PreparedGates.cs runs it.</summary>
public sealed partial class CountingBackend
{
    /// <summary>Marks a gate whose epilogue vectors <see cref="PrepareGates"/> counted.</summary>
    private static readonly object PreparedVectors = new();

    /// <summary>
    /// cuBLASLt: one <c>gated_epilogue_vectors_x4</c> per four gates, reading each gate [B, N] and bias [N], writing each
    /// fp32 alpha vector and (with a bias) bf16 gated bias [B, N]; the gated projections then count no vector kernel.
    /// gemm.cu: nothing (its fused GEMM reads the gate and bias itself).
    /// </summary>
    public IReadOnlyList<PreparedGate> PrepareGates(IReadOnlyList<(Tensor Gate, Tensor? Bias)> gates)
    {
        const string op = "PrepareGates";
        PreparedGate.CheckGates(gates);
        foreach (var (gate, bias) in gates)
        {
            C(gate, op);
            Optional(bias, op);
        }
        if (GemmEngine != CountedGemmEngine.CublasLt)
            return gates.Select(g => new PreparedGate(this, g.Gate, g.Bias)).ToArray();
        for (int first = 0; first < gates.Count; first += 4)
        {
            var group = gates.Skip(first).Take(4).ToArray();
            foreach (var (gate, bias) in group)
            {
                ToBf16(op, C(gate, op));
                ToBf16(op, Optional(bias, op));
            }
            long elements = group.Sum(g => g.Gate.ElementCount);
            long read = group.Sum(g => 2 * g.Gate.ElementCount + Bf16Bytes(g.Bias));
            long written = group.Sum(g => 4 * g.Gate.ElementCount + (g.Bias is null ? 0 : 2 * g.Gate.ElementCount));
            Kernel(op, "gated_epilogue_vectors_x4", elements, read, written);
        }
        return gates.Select(g => new PreparedGate(this, g.Gate, g.Bias, PreparedVectors)).ToArray();
    }

    public void LinearAddPreparedGateInPlace(Tensor residual, Tensor x, Tensor weight, PreparedGate gate)
    {
        PreparedGate.CheckUse(gate, this, "LinearAddGatedInPlace");
        LinearAddGated(residual, x, weight, gate.Bias, gate.Gate, prepared: gate.State == PreparedVectors);
    }

    public void LinearOfRowsAddPreparedGateInPlace(Tensor residual, Tensor x, int start, int count, Tensor weight, PreparedGate gate)
    {
        PreparedGate.CheckUse(gate, this, "LinearOfRowsAddGatedInPlace");
        LinearOfRowsAddGated(residual, x, start, count, weight, gate.Bias, gate.Gate, prepared: gate.State == PreparedVectors);
    }
}
