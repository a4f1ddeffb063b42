using AccelAes.Engine.Acceleration.Fora;
using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Models.Flux;

/// <summary>One FLUX forward after <see cref="FluxTransformer2DModel.Embed"/>, split for the caching policies.</summary>
public sealed class FluxSplitForward(FluxTransformer2DModel model, FluxEmbeddedStep embedded, FluxRotaryTable rope) : ISplitForward
{
    public Tensor Image => embedded.Image;

    public Tensor FirstBlockModulatedInput() => model.FirstBlockModulatedInput(embedded);

    public void RunFirstBlock() => model.RunFirstBlock(embedded, rope);

    public Tensor RunBlocksAfterFirst() => model.RunBlocksAfterFirst(embedded, rope);

    public Tensor RunBlocks() => model.RunBlocks(embedded, rope);

    public Tensor RunBlocks(BlockOutputCache outputs) => model.RunBlocksWithOutputCache(embedded, rope, outputs);

    /// <summary>RAS has no FLUX settings (its authors published SD3 and Lumina-Next only); options validation refuses it first.</summary>
    public Tensor RunBlocks(SparseForward tokens) => throw new AccelAesException("ras: runs on SD3 and Lumina-Next only, not FLUX.");

    public Tensor Output(Tensor image) => model.Output(image, embedded);
}
