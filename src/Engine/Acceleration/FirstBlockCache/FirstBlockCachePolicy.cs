using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Acceleration.TeaCache;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Acceleration.FirstBlockCache;

/// <summary>
/// FBCache, one run's state, as ParaAttention's <c>CachedTransformerBlocks.forward</c> runs it
/// (chengzeyi/ParaAttention src/para_attn/first_block_cache/utils.py at commit 4de137c5b96416489f06e43e19f2c14a772e28fd;
/// FLUX adapter: diffusers_adapters/flux.py, same commit): every step runs block 0 (FLUX: double-stream block 0; SD3:
/// joint block 0), whose image residual r = block0(x) − x is the signal. A computed step runs the remaining blocks from
/// block 0's output and stores their image residual (output after the last block minus block 0's output) and r as the
/// reference; a reused step adds the stored residual to this step's block-0 output. Both go through the output layer
/// with this step's temb. The text stream's residual, which the official code also caches, feeds no output of these
/// backbones (the velocity is read from image tokens only), so it is not kept.
/// </summary>
public sealed class FirstBlockCachePolicy : ICachePolicy
{
    private readonly RelativeL1Distance _distance = new();
    private readonly ExecutedSteps _executed = new();
    private Tensor? _referenceResidual, _remainingResidual;

    /// <param name="threshold"><c>residual_diff_threshold</c>.</param>
    /// <param name="warmup">Steps at the start that always compute (official <c>warmup_steps</c>).</param>
    public FirstBlockCachePolicy(double threshold, int warmup = 0) => Rule = new FirstBlockCacheRule(threshold, warmup);

    public FirstBlockCacheRule Rule { get; }

    public string Name => "fbcache";

    /// <summary>Bytes held between steps (reference residual and remaining blocks' residual).</summary>
    public long StateBytes { get; private set; }

    public Tensor Velocity(ISplitForward forward, int step)
    {
        IBackend be = forward.Image.Backend;
        Tensor input = be.Copy(forward.Image); // the blocks update the embedded image in place
        forward.RunFirstBlock();
        Tensor firstResidual = be.Add(forward.Image, be.Scale(input, -1f));
        // The official comparison: (t1 − t2).abs().mean() / t1.abs().mean() with t1 the stored reference.
        FirstBlockCacheDecision decision = Rule.Decide(step, () => _distance.Compute(firstResidual, _referenceResidual!));
        _executed.Record(step, decision.Computed);

        Tensor image;
        if (decision.Computed)
        {
            _referenceResidual = firstResidual;
            Tensor afterFirst = be.Copy(forward.Image);
            image = forward.RunBlocksAfterFirst();
            _remainingResidual = be.Add(image, be.Scale(afterFirst, -1f));
        }
        else
        {
            image = be.Add(forward.Image, _remainingResidual!);
        }
        StateBytes = 4L * (_referenceResidual!.Shape.ElementCount + _remainingResidual!.Shape.ElementCount);
        return forward.Output(image);
    }

    public AcceleratedRunReport Report(SigmaSchedule sigmas) => _executed.Report(sigmas, StateBytes);
}
