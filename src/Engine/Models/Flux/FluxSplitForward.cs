using AccelAes.Engine.Acceleration.Fora;
using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Models.Flux;

/// <summary>
/// One FLUX forward after <see cref="FluxTransformer2DModel.Embed"/>, split for the caching policies;
/// <paramref name="sparse"/> (temporal=teacache) is the AccelAes state <see cref="RunBlocks()"/> runs with.
/// </summary>
public sealed class FluxSplitForward(FluxTransformer2DModel model, FluxEmbeddedStep embedded, FluxRotaryTable rope, SparseForward? sparse = null) : ISplitForward
{
    public Tensor Image => embedded.Image;

    public Tensor FirstBlockModulatedInput() => model.FirstBlockModulatedInput(embedded);

    public void RunFirstBlock() => model.RunFirstBlock(embedded, rope);

    public Tensor RunBlocksAfterFirst() => model.RunBlocksAfterFirst(embedded, rope);

    public Tensor RunBlocks() => model.RunBlocks(embedded, rope, sparse);

    public Tensor RunBlocks(BlockOutputCache outputs) => model.RunBlocksWithOutputCache(embedded, rope, outputs);

    public Tensor Output(Tensor image) => model.Output(image, embedded);
}
