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
    private readonly BlockRangeCursor _ranges = new(model.DoubleBlockCount + model.SingleBlockCount);

    // [text, image] once a range reached the single-stream blocks (they run on it); until then the two streams apart.
    private Tensor? _joint;

    public Tensor Image => embedded.Image;

    public Tensor FirstBlockModulatedInput() => model.FirstBlockModulatedInput(embedded);

    public void RunFirstBlock() => model.RunFirstBlock(embedded, rope);

    public Tensor RunBlocksAfterFirst() => model.RunBlocksAfterFirst(embedded, rope);

    public Tensor RunBlocks() => model.RunBlocks(embedded, rope, sparse);

    public Tensor RunBlocks(BlockOutputCache outputs) => model.RunBlocksWithOutputCache(embedded, rope, outputs);

    /// <summary>RAS has no FLUX settings (its authors published SD3 and Lumina-Next only); options validation refuses it first.</summary>
    public Tensor RunBlocks(SparseForward tokens) => throw new AccelAesException("ras: runs on SD3 and Lumina-Next only, not FLUX.");

    public Tensor Output(Tensor image) => model.Output(image, embedded);

    public int BlockCount => model.DoubleBlockCount + model.SingleBlockCount;

    public Tensor BlockStates()
    {
        IBackend be = embedded.Image.Backend;
        return _joint is null ? be.Concat(1, embedded.Text, embedded.Image) : be.Copy(_joint);
    }

    public void RunBlockRange(int first, int end)
    {
        _ranges.Advance(first, end);
        int doubles = model.DoubleBlockCount;
        if (first < doubles) model.RunDoubleBlocks(embedded, rope, first, Math.Min(end, doubles));
        if (end > doubles) model.RunSingleBlocks(Joint(), embedded, rope, Math.Max(first, doubles) - doubles, end - doubles);
    }

    public void SkipBlockRange(int first, int end, Tensor deviation)
    {
        _ranges.Advance(first, end);
        IBackend be = deviation.Backend;
        if (end > model.DoubleBlockCount)
        {
            be.AddGatedInPlace(Joint(), deviation, gate: null);
            return;
        }
        int l = embedded.Text.Shape[1], n = embedded.Image.Shape[1];
        be.AddGatedInPlace(embedded.Text, be.Slice(deviation, 1, 0, l), gate: null);
        be.AddGatedInPlace(embedded.Image, be.Slice(deviation, 1, l, n), gate: null);
    }

    public Tensor ImageAfterBlockRanges()
    {
        _ranges.RequireEnd();
        // As the full forward: the image tokens split off [text, image] after the last single-stream block.
        return embedded.Image.Backend.Slice(Joint(), 1, embedded.Text.Shape[1], embedded.Image.Shape[1]);
    }

    private Tensor Joint() => _joint ??= embedded.Image.Backend.Concat(1, embedded.Text, embedded.Image);
}
