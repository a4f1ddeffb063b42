using System.Text.RegularExpressions;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Weights;

/// <summary>
/// <c>--offload sequential</c> at load: the transformer's block weights (<see cref="BlockOf"/>) go into a
/// <see cref="BlockWeightStream"/> (page-locked host memory, streamed through two device slots); every other tensor
/// (embedders, final norm and projection) loads as usual and stays resident, as the memory plan's sequential peak
/// assumes (<c>TransformerWeights.Rest</c> resident plus two of the largest block).
/// </summary>
public sealed partial class StreamedBlockWeightSource(IWeightSource inner, BlockWeightStream stream) : IWeightSource
{
    public string Description => inner.Description;

    public bool Contains(string name) => inner.Contains(name);

    public IEnumerable<string> Names => inner.Names;

    /// <summary>Two device slots: once block i + 1 runs, block i's slot may already be taking block i + 2.</summary>
    public bool StreamsBlocks => true;

    public Tensor Load(string name, Shape shape, IBackend backend)
    {
        Tensor loaded = inner.Load(name, shape, backend);
        return BlockOf(name) is { } block && loaded is CudaTensor cuda ? stream.Adopt(block, cuda) : loaded;
    }

    /// <summary>
    /// The block a transformer tensor belongs to (<c>transformer_blocks.3</c>), or null for the rest: the block lists of
    /// SD3's and FLUX's <c>transformer_blocks</c>, FLUX's <c>single_transformer_blocks</c> and Lumina-Next's <c>layers</c>
    /// (the names the model constructors scope their blocks with).
    /// </summary>
    public static string? BlockOf(string name) => BlockName().Match(name) is { Success: true } m ? m.Groups[1].Value : null;

    [GeneratedRegex(@"^((?:transformer_blocks|single_transformer_blocks|layers)\.\d+)\.")]
    private static partial Regex BlockName();
}
