using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Layers;

/// <summary>diffusers <c>FeedForward(activation_fn="gelu-approximate")</c>: <c>net.2(GELU_tanh(net.0.proj(x)))</c>.</summary>
public sealed class FeedForward
{
    private readonly LinearLayer _proj;
    private readonly LinearLayer _out;

    public FeedForward(WeightReader w, int dim, int innerDim)
    {
        _proj = LinearLayer.Load(w, "net.0.proj", dim, innerDim);
        _out = LinearLayer.Load(w, "net.2", innerDim, dim);
    }

    public Tensor Forward(Tensor x) => _out.Forward(_proj.Forward(x, Activation.GeluTanh));

    /// <summary><paramref name="residual"/> += <paramref name="gate"/>[b] ⊙ Forward(<paramref name="x"/>), the gate in <c>net.2</c>'s epilogue.</summary>
    public void ForwardAddGated(Tensor residual, Tensor x, Tensor? gate) => _out.ForwardAddGated(residual, _proj.Forward(x, Activation.GeluTanh), gate);

    /// <summary>As above with a gate prepared for <c>net.2</c> (<see cref="Output"/>).</summary>
    public void ForwardAddPreparedGate(Tensor residual, Tensor x, PreparedGate gate) => _out.ForwardAddPreparedGate(residual, _proj.Forward(x, Activation.GeluTanh), gate);

    /// <summary><c>net.2</c>, the gated projection.</summary>
    public LinearLayer Output => _out;
}
