using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Sampling;

/// <summary>
/// What makes a denoiser's step graph reusable (<see cref="StepGraph.Run"/>): the latents tensor (by reference — the
/// loop updates it in place, so its address is fixed) and its shape; for an AccelAes forward, the step kind and the
/// generation of the focus set and caches it reads. Everything else a denoiser's step reads is fixed for the
/// denoiser's lifetime (conditioning, rotary tables, guidance scale, weights) or a <see cref="StepGraph.Scalars"/> tensor.
/// </summary>
public readonly record struct StepGraphKey(Tensor Latents, Shape Shape, StepKind Kind, int Generation, object? Extra)
{
    /// <summary>A plain dense step.</summary>
    public static StepGraphKey Dense(Tensor latents, object? extra = null) => new(latents, latents.Shape, StepKind.Full, 0, extra);

    /// <summary>
    /// The key of an accelerated forward, or null when it must run eagerly: the mask-capture forward (it uploads the
    /// text weights and reads the affinities back) and cache fills (they store new cache tensors, which the host must
    /// see). Dense (Full) and sparse forwards are captured; a sparse one is keyed by the focus set and caches it reads.
    /// Under temporal=teacache every forward is eager: its host-side decision (one scalar pair read back) picks the work.
    /// </summary>
    public static StepGraphKey? ForSparse(Tensor latents, SparseForward sparse, object? extra = null) => sparse.TeaCache is not null ? null : sparse.Kind switch
    {
        StepKind.Full => new StepGraphKey(latents, latents.Shape, StepKind.Full, 0, extra),
        StepKind.Sparse => new StepGraphKey(latents, latents.Shape, StepKind.Sparse, sparse.Generation, extra),
        _ => null,
    };
}
