using AccelAes.Engine.Acceleration.Fora;
using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Models.Sd3;

/// <summary>One SD3 forward after <see cref="Sd3Transformer2DModel.Embed"/>, split for the caching policies.</summary>
public sealed class Sd3SplitForward(Sd3Transformer2DModel model, Sd3EmbeddedStep embedded) : ISplitForward
{
    public Tensor Image => embedded.Image;

    public Tensor FirstBlockModulatedInput() => model.FirstBlockModulatedInput(embedded);

    public void RunFirstBlock() => model.RunFirstBlock(embedded);

    public Tensor RunBlocksAfterFirst() => model.RunBlocks(embedded, firstBlock: 1);

    public Tensor RunBlocks() => model.RunBlocks(embedded);

    public Tensor RunBlocks(BlockOutputCache outputs) => model.RunBlocks(embedded, outputs: outputs);

    /// <summary>RAS (official <c>ras_forward</c>: <c>hidden_states[:, other_patchified_index]</c> before the blocks, the text stream whole).</summary>
    public Tensor RunBlocks(SparseForward tokens)
    {
        if (tokens.FocusTokens is null) return model.RunBlocks(embedded, tokens);
        var active = new Sd3EmbeddedStep(SparseRows.Gather(tokens, embedded.Image), embedded.Context!, embedded.SiluTemb, embedded.Height, embedded.Width);
        Tensor rows = model.RunBlocks(active, tokens);
        embedded.Context = active.Context;
        return ActiveRows.ScatterInto(tokens, embedded.Image, rows);
    }

    public Tensor Output(Tensor image) => model.Output(image, embedded);
}
