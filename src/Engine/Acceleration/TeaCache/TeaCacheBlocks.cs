using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Acceleration.TeaCache;

/// <summary>
/// TeaCache's state over one run, on any backbone (FLUX, SD3 / SD3.5, Lumina-Next): the previous step's modulated
/// input of block 0 (<see cref="ISplitForward.FirstBlockModulatedInput"/>: FLUX double-stream block 0's norm1, SD3
/// joint block 0's image norm1, Lumina-Next layer 0's norm1 — each official <c>teacache_forward</c>'s signal), the
/// residual of the last computed step (image tokens after the last block minus the embedder's output) and the rule.
/// A computed step runs every block and stores its residual; a reused step adds the stored residual to this step's
/// embedded image tokens. The modulated input is replaced on every step, reused or not, so each distance compares
/// consecutive steps. The batch (a CFG batch included) is one tensor, so one decision covers every branch, as in the
/// official code, which calls the transformer once per step with the CFG batch concatenated.
/// </summary>
public sealed class TeaCacheBlocks(TeaCacheRule rule)
{
    private readonly RelativeL1Distance _distance = new();
    private Tensor? _previousModulated, _residual;

    public TeaCacheRule Rule { get; } = rule;

    /// <summary>Bytes held between steps (modulated input and residual).</summary>
    public long StateBytes { get; private set; }

    /// <summary>
    /// The image tokens after the last block at step <paramref name="step"/>: computed by
    /// <see cref="ISplitForward.RunBlocks()"/> (whatever that forward runs: dense, or AccelAes's capture, fill or sparse
    /// path) or reused. <paramref name="forceCompute"/>: see <see cref="TeaCacheRule.Decide"/>.
    /// </summary>
    public (Tensor Image, TeaCacheDecision Decision) Blocks(ISplitForward forward, int step, bool forceCompute = false)
    {
        IBackend be = forward.Image.Backend;
        Tensor modulated = forward.FirstBlockModulatedInput();
        TeaCacheDecision decision = Rule.Decide(step, () => _distance.Compute(modulated, _previousModulated!), forceCompute);
        _previousModulated = modulated;

        Tensor image;
        if (decision.Computed)
        {
            Tensor original = be.Copy(forward.Image); // RunBlocks updates the embedded image in place
            image = forward.RunBlocks();
            _residual = be.Add(image, be.Scale(original, -1f));
        }
        else
        {
            image = be.Add(forward.Image, _residual!);
        }
        StateBytes = 4L * (modulated.Shape.ElementCount + _residual!.Shape.ElementCount);
        return (image, decision);
    }
}
