using AccelAes.Engine.Acceleration.Fora;
using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Models.Lumina;

/// <summary>
/// One Lumina-Next forward after <see cref="LuminaNextDiT2DModel.Embed"/>, split for the caching policies;
/// <paramref name="sparse"/> (temporal=teacache) is the AccelAes state <see cref="RunBlocks()"/> runs with.
/// </summary>
public sealed class LuminaSplitForward(LuminaNextDiT2DModel model, LuminaEmbeddedStep embedded, SparseForward? sparse = null) : ISplitForward
{
    public Tensor Image => embedded.Image;

    public Tensor FirstBlockModulatedInput() => model.FirstBlockModulatedInput(embedded);

    public void RunFirstBlock() => model.RunBlocks(embedded, lastBlock: 1);

    public Tensor RunBlocksAfterFirst() => model.RunBlocks(embedded, firstBlock: 1);

    public Tensor RunBlocks() => model.RunBlocks(embedded, sparse);

    public Tensor RunBlocks(BlockOutputCache outputs) => model.RunBlocks(embedded, outputs: outputs);

    public Tensor Output(Tensor image) => model.Output(image, embedded);
}
