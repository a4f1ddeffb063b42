using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Models.TextEncoders;

/// <summary>
/// The module a <see cref="T5LayerFF"/> holds as <c>DenseReluDense</c>: <see cref="T5DenseActDense"/> or, for
/// gated configs, <see cref="T5DenseGatedActDense"/>.
/// </summary>
public interface IT5FeedForward
{
    /// <summary>x [.., d_model] (normalised) → [.., d_model].</summary>
    Tensor Forward(Tensor x);
}
