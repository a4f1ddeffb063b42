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
    private readonly BlockRangeCursor _ranges = new(model.BlockCount);

    // The text stream between ranges; a range through the context_pre_only last block (which returns none) keeps the one it started with.
    private Tensor _text = embedded.Context!;

    public Tensor Image => embedded.Image;

    public Tensor FirstBlockModulatedInput() => model.FirstBlockModulatedInput(embedded);

    public void RunFirstBlock() => model.RunFirstBlock(embedded);

    public Tensor RunBlocksAfterFirst() => model.RunBlocks(embedded, firstBlock: 1);

    public Tensor RunBlocks() => model.RunBlocks(embedded, sparse);

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

    public int BlockCount => model.BlockCount;

    public Tensor BlockStates() => embedded.Image.Backend.Concat(1, _text, embedded.Image);

    public void RunBlockRange(int first, int end)
    {
        _ranges.Advance(first, end);
        model.RunBlockRange(embedded, first, end);
        if (embedded.Context is { } text) _text = text;
    }

    public void SkipBlockRange(int first, int end, Tensor deviation)
    {
        _ranges.Advance(first, end);
        IBackend be = deviation.Backend;
        int l = _text.Shape[1], n = embedded.Image.Shape[1];
        be.AddGatedInPlace(embedded.Image, be.Slice(deviation, 1, l, n), gate: null);
        _text = be.Add(_text, be.Slice(deviation, 1, 0, l));
        // Past the last block no text stream is left, as after the context_pre_only block itself.
        embedded.Context = end == model.BlockCount ? null : _text;
    }

    public Tensor ImageAfterBlockRanges()
    {
        _ranges.RequireEnd();
        return embedded.Image;
    }
}
