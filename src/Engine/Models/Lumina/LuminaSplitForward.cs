using AccelAes.Engine.Acceleration.Fora;
using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Models.Lumina;

/// <summary>One Lumina-Next forward after <see cref="LuminaNextDiT2DModel.Embed"/>, split for the caching policies.</summary>
public sealed class LuminaSplitForward(LuminaNextDiT2DModel model, LuminaEmbeddedStep embedded) : ISplitForward
{
    public Tensor Image => embedded.Image;

    public Tensor FirstBlockModulatedInput() => model.FirstBlockModulatedInput(embedded);

    public void RunFirstBlock() => model.RunBlocks(embedded, lastBlock: 1);

    public Tensor RunBlocksAfterFirst() => model.RunBlocks(embedded, firstBlock: 1);

    public Tensor RunBlocks() => model.RunBlocks(embedded);

    public Tensor RunBlocks(BlockOutputCache outputs) => model.RunBlocks(embedded, outputs: outputs);

    public Tensor Output(Tensor image) => model.Output(image, embedded);
}
