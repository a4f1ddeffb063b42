using AccelAes.Engine.Acceleration.Fora;
using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Models.Sd3;

/// <summary>
/// One SD3 forward after <see cref="Sd3Transformer2DModel.Embed"/>, split for the caching policies;
/// <paramref name="sparse"/> (temporal=teacache) is the AccelAes state <see cref="RunBlocks()"/> runs with.
/// </summary>
public sealed class Sd3SplitForward(Sd3Transformer2DModel model, Sd3EmbeddedStep embedded, SparseForward? sparse = null) : ISplitForward
{
    public Tensor Image => embedded.Image;

    public Tensor FirstBlockModulatedInput() => model.FirstBlockModulatedInput(embedded);

    public void RunFirstBlock() => model.RunFirstBlock(embedded);

    public Tensor RunBlocksAfterFirst() => model.RunBlocks(embedded, firstBlock: 1);

    public Tensor RunBlocks() => model.RunBlocks(embedded, sparse);

    public Tensor RunBlocks(BlockOutputCache outputs) => model.RunBlocks(embedded, outputs: outputs);

    public Tensor Output(Tensor image) => model.Output(image, embedded);
}
