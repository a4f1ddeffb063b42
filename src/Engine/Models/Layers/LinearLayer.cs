using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Layers;

/// <summary><c>nn.Linear</c>: weight [out, in], optional bias [out].</summary>
public sealed class LinearLayer
{
    private LinearLayer(Tensor weight, Tensor? bias)
    {
        Weight = weight;
        Bias = bias;
    }

    public Tensor Weight { get; }
    public Tensor? Bias { get; }
    public int InFeatures => Weight.Shape[1];
    public int OutFeatures => Weight.Shape[0];

    public static LinearLayer Load(WeightReader w, string name, int inFeatures, int outFeatures, bool bias = true)
        => new(w.Get(name + ".weight", outFeatures, inFeatures), bias ? w.Get(name + ".bias", outFeatures) : null);

    /// <summary>A layer over tensors already loaded (e.g. a conv kernel viewed as a matrix).</summary>
    public static LinearLayer FromTensors(Tensor weight, Tensor? bias) => new(weight, bias);

    public Tensor Forward(Tensor x, Activation activation = Activation.None)
        => x.Backend.Linear(x, Weight, Bias, activation);

    /// <summary>
    /// <paramref name="residual"/> += <paramref name="gate"/>[b] ⊙ Forward(<paramref name="x"/>) without storing the output
    /// (a DiT block's gated residual after its out-projection; issue 16).
    /// </summary>
    public void ForwardAddGated(Tensor residual, Tensor x, Tensor? gate)
        => x.Backend.LinearAddGatedInPlace(residual, x, Weight, Bias, gate);

    /// <summary><see cref="ForwardAddGated"/> with a gate prepared for this layer (<see cref="IBackend.PrepareGates"/> with <see cref="Bias"/>).</summary>
    public void ForwardAddPreparedGate(Tensor residual, Tensor x, PreparedGate gate)
        => x.Backend.LinearAddPreparedGateInPlace(residual, x, Weight, PreparedFor(gate));

    /// <summary>The (gate, bias) entry of <see cref="IBackend.PrepareGates"/> for this layer's gated projection.</summary>
    public (Tensor Gate, Tensor? Bias) GateEntry(Tensor gate) => (gate, Bias);

    /// <summary>The layer over rows [start, start + count) of x [B, S, in], read in place (no slice copy): [B, count, out].</summary>
    public Tensor ForwardRows(Tensor x, int start, int count) => x.Backend.LinearOfRows(x, start, count, Weight, Bias);

    /// <summary>
    /// <paramref name="residual"/> [B, count, out] += <paramref name="gate"/>[b] ⊙ the layer over rows [start, start + count)
    /// of x [B, S, in], read in place: neither the rows' slice nor the output is stored.
    /// </summary>
    public void ForwardRowsAddGated(Tensor residual, Tensor x, int start, int count, Tensor? gate)
        => x.Backend.LinearOfRowsAddGatedInPlace(residual, x, start, count, Weight, Bias, gate);

    /// <summary><see cref="ForwardRowsAddGated"/> with a gate prepared for this layer.</summary>
    public void ForwardRowsAddPreparedGate(Tensor residual, Tensor x, int start, int count, PreparedGate gate)
        => x.Backend.LinearOfRowsAddPreparedGateInPlace(residual, x, start, count, Weight, PreparedFor(gate));

    // A prepared gate carries the bias it was prepared with: it must be this layer's.
    private PreparedGate PreparedFor(PreparedGate gate)
        => ReferenceEquals(gate.Bias, Bias) ? gate : throw new ArgumentException("The gate was prepared with another layer's bias.", nameof(gate));

    /// <summary>The output of x [B, n, in] written into rows [rowOffset, rowOffset + n) of each batch item of <paramref name="destination"/> [B, S, out].</summary>
    public void ForwardIntoRows(Tensor destination, int rowOffset, Tensor x) => x.Backend.LinearIntoRows(destination, rowOffset, x, Weight, Bias);

    /// <summary>The same output written into columns [columnOffset, columnOffset + OutFeatures) of <paramref name="destination"/>.</summary>
    public void ForwardInto(Tensor destination, int columnOffset, Tensor x, Activation activation = Activation.None)
        => x.Backend.LinearInto(destination, columnOffset, x, Weight, Bias, activation);
}
