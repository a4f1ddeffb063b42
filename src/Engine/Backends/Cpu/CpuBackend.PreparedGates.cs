using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cpu;

/// <summary>Gates prepared once per block (issue 16): the reference keeps them as given; the gated projections are the unprepared ops.</summary>
public sealed partial class CpuBackend
{
    public IReadOnlyList<PreparedGate> PrepareGates(IReadOnlyList<(Tensor Gate, Tensor? Bias)> gates)
    {
        PreparedGate.CheckGates(gates);
        return gates.Select(g => new PreparedGate(this, g.Gate, g.Bias)).ToArray();
    }

    public void LinearAddPreparedGateInPlace(Tensor residual, Tensor x, Tensor weight, PreparedGate gate)
    {
        PreparedGate.CheckUse(gate, this, "LinearAddGatedInPlace");
        LinearAddGatedInPlace(residual, x, weight, gate.Bias, gate.Gate);
    }

    public void LinearOfRowsAddPreparedGateInPlace(Tensor residual, Tensor x, int start, int count, Tensor weight, PreparedGate gate)
    {
        PreparedGate.CheckUse(gate, this, "LinearOfRowsAddGatedInPlace");
        LinearOfRowsAddGatedInPlace(residual, x, start, count, weight, gate.Bias, gate.Gate);
    }
}
