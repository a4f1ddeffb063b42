using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Models.Lumina;

/// <summary>
/// A layer's last residual update, <c>x += tanh(gate_mlp) ⊙ ffn_norm2(ffn_out)</c>, not yet applied: while one is pending,
/// x is not the layer's output. The next layer's first op (norm1's RMSNorm·(1 + scale_msa)) applies it in the same row
/// kernel (<see cref="ApplyThenModulate"/>: one read of x and one launch fewer per layer boundary, issue 16); anything
/// else that reads x first applies it on its own (<see cref="Apply"/>). The branch and the gate are the layer's own
/// tensors (the FFN output, or on AccelAes fill / sparse steps the layer's FFN cache, written only by that layer), so
/// they are unchanged until the update is applied, which <see cref="LuminaNextDiT2DModel.RunBlocks"/> does before it returns.
/// ffn_norm2's weight is the layer's own too: with streamed block weights (<c>--offload sequential</c>) it may leave the
/// device once the next layer starts, so there RunBlocks applies each layer's update at once.
/// </summary>
public sealed class PendingResidual
{
    private readonly Tensor _x, _branch, _normWeight, _gate;
    private readonly float _eps;
    private bool _applied;

    /// <param name="x">The residual stream [B, N, D] the update is for.</param>
    /// <param name="branch">The FFN output [B, N, D], before <c>ffn_norm2</c>.</param>
    /// <param name="eps">ffn_norm2's eps.</param>
    /// <param name="normWeight">ffn_norm2's weight [D].</param>
    /// <param name="gate">gate_mlp [B, D], before its tanh.</param>
    public PendingResidual(Tensor x, Tensor branch, float eps, Tensor normWeight, Tensor gate)
        => (_x, _branch, _eps, _normWeight, _gate) = (x, branch, eps, normWeight, gate);

    /// <summary>Applies the update to <paramref name="x"/> (the stream it is for): afterwards x is complete.</summary>
    public void Apply(Tensor x)
    {
        Take(x);
        x.Backend.RmsNormAddTanhGatedInPlace(x, _branch, _eps, _normWeight, _gate);
    }

    /// <summary>
    /// Applies the update to <paramref name="x"/> and returns RMSNorm(x)·w·(1 + scale) of the updated rows, in one pass: the
    /// rows the unfused order (<see cref="Apply"/>, then RmsNormModulate) gives, the statistics taken from x as stored.
    /// </summary>
    public Tensor ApplyThenModulate(Tensor x, float eps, Tensor? weight, Tensor? scale)
    {
        Take(x);
        return x.Backend.RmsNormAddTanhGatedThenModulate(x, _branch, _eps, _normWeight, _gate, eps, weight, scale, shift: null);
    }

    // An update applied twice, or to another tensor, would be a wrong image with no error: refuse both.
    private void Take(Tensor x)
    {
        if (!ReferenceEquals(x, _x))
            throw new InvalidOperationException("A pending Lumina residual update was handed a tensor other than the stream it belongs to.");
        if (_applied)
            throw new InvalidOperationException("A pending Lumina residual update was applied twice.");
        _applied = true;
    }
}
