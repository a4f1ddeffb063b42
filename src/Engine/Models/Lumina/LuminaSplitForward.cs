using AccelAes.Engine.Acceleration.Fora;
using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Models.Lumina;

/// <summary>
/// One Lumina-Next forward after <see cref="LuminaNextDiT2DModel.Embed(Tensor, Tensor, LuminaCaptionContext, LuminaRotaryTable, int?)"/>, split for the caching policies;
/// <paramref name="sparse"/> (temporal=teacache) is the AccelAes state <see cref="RunBlocks()"/> runs with.
/// </summary>
public sealed class LuminaSplitForward(LuminaNextDiT2DModel model, LuminaEmbeddedStep embedded, SparseForward? sparse = null) : ISplitForward
{
    private readonly BlockRangeCursor _ranges = new(model.LayerCount);

    public Tensor Image => embedded.Image;

    public Tensor FirstBlockModulatedInput() => model.FirstBlockModulatedInput(embedded);

    public void RunFirstBlock() => model.RunBlocks(embedded, lastBlock: 1);

    public Tensor RunBlocksAfterFirst() => model.RunBlocks(embedded, firstBlock: 1);

    public Tensor RunBlocks() => model.RunBlocks(embedded, sparse);

    public Tensor RunBlocks(BlockOutputCache outputs) => model.RunBlocks(embedded, outputs: outputs);

    /// <summary>
    /// RAS (official Lumina <c>ras_forward</c>): the active tokens' rows and their RoPE rows (<c>image_rotary_emb_skip</c>)
    /// go through every layer; captions whole.
    /// </summary>
    public Tensor RunBlocks(SparseForward tokens)
    {
        if (tokens.FocusTokens is null) return model.RunBlocks(embedded, tokens);
        IBackend be = embedded.Image.Backend;
        Tensor positions = tokens.DerivedIndices(be, "ras_rotary_rows", () => [.. tokens.FocusTokens]);
        var rotary = new LuminaRotary(be.GatherRows(embedded.Rotary.Cos, positions), be.GatherRows(embedded.Rotary.Sin, positions));
        LuminaEmbeddedStep active = embedded with { Image = SparseRows.Gather(tokens, embedded.Image), Rotary = rotary };
        return ActiveRows.ScatterInto(tokens, embedded.Image, model.RunBlocks(active, tokens));
    }

    public Tensor Output(Tensor image) => model.Output(image, embedded);

    /// <summary>The layers; the caption features are every layer's keys and values, never updated, so only the image is a stream.</summary>
    public int BlockCount => model.LayerCount;

    public Tensor BlockStates() => embedded.Image.Backend.Copy(embedded.Image);

    public void RunBlockRange(int first, int end)
    {
        _ranges.Advance(first, end);
        model.RunBlocks(embedded, firstBlock: first, lastBlock: end);
    }

    public void SkipBlockRange(int first, int end, Tensor deviation)
    {
        _ranges.Advance(first, end);
        deviation.Backend.AddGatedInPlace(embedded.Image, deviation, gate: null);
    }

    public Tensor ImageAfterBlockRanges()
    {
        _ranges.RequireEnd();
        return embedded.Image;
    }
}
