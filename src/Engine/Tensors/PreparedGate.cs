namespace AccelAes.Engine.Tensors;

/// <summary>
/// A gate [B, N] and the bias [N] of the projection it gates, prepared by <see cref="IBackend.PrepareGates"/> for that
/// projection's gated-residual epilogue (<see cref="IBackend.LinearAddPreparedGateInPlace"/>).
/// A DiT block prepares all its gates in one op, so a device makes their epilogue vectors in one launch instead of one per
/// projection (issue 16: FLUX's launches). Valid for the step it was prepared in, on the backend that prepared it.
/// </summary>
public sealed class PreparedGate
{
    public PreparedGate(IBackend backend, Tensor gate, Tensor? bias, object? state = null)
    {
        Backend = backend;
        Gate = gate;
        Bias = bias;
        State = state;
    }

    /// <summary>The backend that prepared it; the only one that may use it.</summary>
    public IBackend Backend { get; }

    /// <summary>The gate [B, N] as given (what a backend without prepared vectors, or a fallback path, uses).</summary>
    public Tensor Gate { get; }

    /// <summary>The bias [N] of the gated projection, or null.</summary>
    public Tensor? Bias { get; }

    /// <summary>The backend's own form of the gate (CUDA: its fp32 alpha vector and gated bias); null where it keeps the gate as given.</summary>
    public object? State { get; }

    /// <summary>
    /// The shape rules of <see cref="IBackend.PrepareGates"/>, one wording for every backend: a gate [B, N] per entry, one shape
    /// for all, a bias [N] or none.
    /// </summary>
    public static void CheckGates(IReadOnlyList<(Tensor Gate, Tensor? Bias)> gates)
    {
        ArgumentNullException.ThrowIfNull(gates);
        if (gates.Count == 0) throw new ArgumentException("PrepareGates: no gate given.");
        Shape first = gates[0].Gate?.Shape ?? throw new ArgumentException("PrepareGates: gate 0 is null.");
        for (int i = 0; i < gates.Count; i++)
        {
            var (gate, bias) = gates[i];
            if (gate is null) throw new ArgumentException($"PrepareGates: gate {i} is null.");
            if (gate.Shape.Rank != 2 || gate.Shape != first)
                throw new ArgumentException($"PrepareGates: gate {i} {gate.Shape} must be [B, N] and match gate 0 {first}.");
            if (bias is not null && (bias.Shape.Rank != 1 || bias.Shape[0] != gate.Shape[1]))
                throw new ArgumentException($"PrepareGates: bias {i} {bias.Shape} must be [{gate.Shape[1]}].");
        }
    }

    /// <summary>That <paramref name="gate"/> was prepared by <paramref name="backend"/>.</summary>
    public static void CheckUse(PreparedGate gate, IBackend backend, string op)
    {
        ArgumentNullException.ThrowIfNull(gate);
        if (!ReferenceEquals(gate.Backend, backend))
            throw new ArgumentException($"{op}: the gate was prepared by another backend ({gate.Backend.Name}).");
    }
}
