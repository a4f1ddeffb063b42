using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cpu;

/// <summary>SwiGLU's gate-and-up projection with its gating (issue 16, Fusion 11), as a reference.</summary>
public sealed partial class CpuBackend
{
    /// <summary>
    /// <see cref="Linear"/> of the joined [2F, K] weight, then <see cref="SiluMul"/>: the two ops a model ran before the
    /// fusion, so a model switched over gives the same CPU numbers bit for bit.
    /// </summary>
    public Tensor LinearSwiGlu(Tensor x, Tensor gateUpWeight)
    {
        RequireSwiGluWeight(gateUpWeight, "LinearSwiGlu");
        using var gateAndUp = Linear(x, gateUpWeight, null);
        return SiluMul(gateAndUp);
    }

    /// <summary>The joined weight's checks: rank 2 and an even number of rows (the gate and up halves).</summary>
    internal static void RequireSwiGluWeight(Tensor gateUpWeight, string op)
    {
        ArgumentNullException.ThrowIfNull(gateUpWeight);
        if (gateUpWeight.Shape.Rank != 2 || gateUpWeight.Shape[0] % 2 != 0)
            throw new ArgumentException($"{op}: the weight {gateUpWeight.Shape} must be [2F, K], the gate rows then the up rows (an even row count).");
    }
}
