namespace AccelAes.Engine.Acceleration;

/// <summary>One part of a forward's FLOPs (GFLOP per forward, batch 1) and whether SkipSparse shrinks it with the focus fraction.</summary>
/// <param name="Name">What the FLOPs are.</param>
/// <param name="Gflop">GFLOP per forward for one CFG branch (a GEMM is 2·M·K·N, attention 4·Sq·Sk·width).</param>
/// <param name="ScalesWithFocus">True when a sparse forward with attention + FFN sparsity (<c>sparse_ffn</c> on) does
/// only the focus fraction f of it.</param>
/// <param name="NeedsSparseFeedForward">True when it shrinks only if the FFN runs sparse too: the FFN itself, and FLUX's
/// single-stream <c>proj_out</c>, which the dense MLP branch forces onto every row. With <c>sparse_ffn</c> off these
/// parts cost the same as in a dense forward.</param>
public sealed record FlopComponent(string Name, double Gflop, bool ScalesWithFocus, bool NeedsSparseFeedForward = false)
{
    /// <summary>Whether a sparse forward does only f of it, given the run's <c>sparse_ffn</c>.</summary>
    public bool Scales(bool sparseFeedForward) => ScalesWithFocus && (sparseFeedForward || !NeedsSparseFeedForward);
}

/// <summary>
/// The expected cost of a sparse forward relative to a dense one, from FLOP counts
/// (architectures.md §7, counting conventions there: GEMM 2·M·K·N, attention 4·S_q·S_k·width, norms and
/// elementwise work omitted): <c>sparseCost(f) = (dense + f·scalable) / total</c>.
/// </summary>
/// <remarks>
/// <para>What scales with the focus fraction f in a sparse block (DESIGN §5): the query projection of image tokens,
/// the attention of image queries (over all keys: keys/values are global), the FFN of image tokens, and on MMDiT
/// backbones the image output projection (row-wise, so the caches hold its output). With attention-only sparsity
/// (<c>sparse_ffn</c> off, paper Table 7, <see cref="SparseFeedForward"/>) the FFN and FLUX's single-stream
/// <c>proj_out</c> stay dense too (<see cref="FlopComponent.NeedsSparseFeedForward"/>). What stays dense: key/value
/// projections (recomputed for every token from the current hidden states), Lumina's output projection (its input
/// sums the cached self-attention with the dense cross-attention), Lumina's cross-attention, everything on text
/// tokens (MMDiT text tokens are always queries), embeddings, modulation.</para>
/// <para>FLOPs are not time: the sparse path adds gathers/scatters and smaller GEMMs run at lower efficiency, so
/// the measured ratio is higher; <c>accelaes bench</c> measures it. At 1024² (N = 4096) with f = 0.5 this model gives
/// ≈ 0.59 for Lumina, the "≈ 0.6 of a dense forward" that fits the paper's timings (accelaes-reference-code.md §2.2).</para>
/// </remarks>
public sealed class SparseCostModel
{
    /// <param name="sparseFeedForward">The run's <c>sparse_ffn</c>: false costs attention-only sparsity.</param>
    public SparseCostModel(string network, int imageTokens, int textTokens, IReadOnlyList<FlopComponent> components, bool sparseFeedForward = true)
    {
        ArgumentNullException.ThrowIfNull(components);
        if (components.Count == 0 || components.Any(c => !(c.Gflop >= 0) || double.IsInfinity(c.Gflop)))
            throw new ArgumentException("A cost model needs components with non-negative, finite FLOPs.", nameof(components));
        Network = network;
        ImageTokens = imageTokens;
        TextTokens = textTokens;
        Components = components;
        SparseFeedForward = sparseFeedForward;
        TotalGflop = components.Sum(c => c.Gflop);
        ScalableGflop = components.Where(c => c.Scales(sparseFeedForward)).Sum(c => c.Gflop);
        if (TotalGflop <= 0) throw new ArgumentException("A cost model needs a positive total.", nameof(components));
    }

    /// <summary>Which network (for display).</summary>
    public string Network { get; }

    public int ImageTokens { get; }

    public int TextTokens { get; }

    /// <summary>Whether the FFN runs sparse too (<c>sparse_ffn</c>); false: attention-only sparsity.</summary>
    public bool SparseFeedForward { get; }

    /// <summary>The FLOP split, for <c>accelaes explain</c>.</summary>
    public IReadOnlyList<FlopComponent> Components { get; }

    /// <summary>GFLOP of one dense forward (one CFG branch).</summary>
    public double TotalGflop { get; }

    /// <summary>GFLOP that a sparse forward scales by f.</summary>
    public double ScalableGflop { get; }

    /// <summary>The share of a dense forward that scales with f.</summary>
    public double ScalableFraction => ScalableGflop / TotalGflop;

    /// <summary>Cost of a sparse forward relative to a dense one at focus fraction <paramref name="focusFraction"/> ∈ [0, 1].</summary>
    public double SparseCost(double focusFraction)
    {
        if (!(focusFraction >= 0 && focusFraction <= 1))
            throw new ArgumentOutOfRangeException(nameof(focusFraction), focusFraction, "the focus fraction is in [0, 1]");
        return (TotalGflop - (1 - focusFraction) * ScalableGflop) / TotalGflop;
    }

    /// <summary>The same FLOP split costed with <c>sparse_ffn</c> = <paramref name="sparseFeedForward"/>.</summary>
    public SparseCostModel WithSparseFeedForward(bool sparseFeedForward)
        => sparseFeedForward == SparseFeedForward ? this : new SparseCostModel(Network, ImageTokens, TextTokens, Components, sparseFeedForward);

    /// <summary>The published-model split of <paramref name="options"/>' backbone, costed with its <c>sparse_ffn</c>.</summary>
    public static SparseCostModel For(AccelerationOptions options, int imageTokens = 4096)
    {
        ArgumentNullException.ThrowIfNull(options);
        return For(options.Backbone, imageTokens).WithSparseFeedForward(options.SparseFeedForward);
    }

    /// <summary>The published-model split of a backbone at <paramref name="imageTokens"/> image tokens (4096 at 1024²).</summary>
    public static SparseCostModel For(Backbone backbone, int imageTokens = 4096) => backbone switch
    {
        Backbone.Lumina => LuminaNext(imageTokens),
        Backbone.Sd3 => Sd3Medium(imageTokens),
        Backbone.Flux => Flux1(imageTokens),
        _ => throw new ArgumentOutOfRangeException(nameof(backbone), backbone, "unknown backbone"),
    };

    /// <summary>
    /// Lumina-Next-SFT: 24 layers, D = 2304, K/V width 576 (8 KV heads × 72), SwiGLU hidden 6144, Gemma text width
    /// 2048, self-attention over image tokens only, cross-attention to <paramref name="textTokens"/> text tokens.
    /// </summary>
    public static SparseCostModel LuminaNext(int imageTokens = 4096, int textTokens = 256, int layers = 24, int dim = 2304,
        int kvWidth = 576, int ffnHidden = 6144, int textDim = 2048)
    {
        double n = imageTokens, l = textTokens, d = dim, g = 1e-9 * layers;
        return new SparseCostModel("Lumina-Next", imageTokens, textTokens,
        [
            new("attn1 query projection", g * 2 * n * d * d, true),
            new("attn1 key/value projections", g * 4 * n * d * kvWidth, false),
            new("attn1 attention (image queries × all keys)", g * 4 * n * n * d, true),
            new("attn2 cross-attention (queries, text keys/values, attention)", g * (2 * n * d * d + 4 * l * textDim * kvWidth + 4 * n * l * d), false),
            new("output projection", g * 2 * n * d * d, false),
            new("feed-forward (SwiGLU)", g * 6 * n * d * ffnHidden, true, NeedsSparseFeedForward: true),
        ]);
    }

    /// <summary>
    /// SD3-Medium: 24 joint blocks, D = 1536, <paramref name="textTokens"/> text tokens (77 CLIP + 256 T5), the last
    /// block's text stream only projects q/k/v; context embedder from 4096-d, 16 latent channels, patch 2.
    /// </summary>
    public static SparseCostModel Sd3Medium(int imageTokens = 4096, int textTokens = 333, int blocks = 24, int dim = 1536, int contextDim = 4096) =>
        Mmdit("SD3-Medium", imageTokens, textTokens, blocks, 0, dim, contextDim, latentChannels: 16, lastBlockContextPreOnly: true,
            modulationGflop: 1e-9 * blocks * 2 * 2 * dim * 6.0 * dim);

    /// <summary>
    /// FLUX.1-dev: 19 double-stream + 38 single-stream blocks, D = 3072, <paramref name="textTokens"/> T5 tokens.
    /// A single block's qkv / proj_mlp / proj_out split into the same per-token parts as a double block's
    /// (q 2D², k/v 4D², attention-output projection 2D², MLP 16D² FLOPs per token).
    /// </summary>
    public static SparseCostModel Flux1(int imageTokens = 4096, int textTokens = 512, int doubleBlocks = 19, int singleBlocks = 38, int dim = 3072) =>
        Mmdit("FLUX.1", imageTokens, textTokens, doubleBlocks, singleBlocks, dim, contextDim: 4096, latentChannels: 16, lastBlockContextPreOnly: false,
            modulationGflop: 1e-9 * (doubleBlocks * 2 * 2 * dim * 6.0 * dim + singleBlocks * 2 * dim * 3.0 * dim + 2 * dim * 2.0 * dim));

    private static SparseCostModel Mmdit(string name, int imageTokens, int textTokens, int doubleBlocks, int singleBlocks, int dim,
        int contextDim, int latentChannels, bool lastBlockContextPreOnly, double modulationGflop)
    {
        double n = imageTokens, l = textTokens, s = n + l, d = dim, blocks = doubleBlocks + singleBlocks, g = 1e-9;
        double textLinear = blocks * 24 * l * d * d;
        if (lastBlockContextPreOnly) textLinear -= 18 * l * d * d; // the last block's text stream has only q/k/v
        double patch = latentChannels * 4.0; // patch 2: 2·2·channels inputs per token
        var components = new List<FlopComponent>
        {
            new("image query projection", g * blocks * 2 * n * d * d, true),
            new("image key/value projections", g * blocks * 4 * n * d * d, false),
            new("image-query attention (over image + text keys)", g * blocks * 4 * n * s * d, true),
            // The image output projection is row-wise, so the caches hold its output and only focus rows are projected.
            new("image attention-output projection", g * doubleBlocks * 2 * n * d * d, true),
        };
        // A single-stream block's attention columns of proj_out: sparse only while the MLP branch is, since both share
        // proj_out (attention-only sparsity caches the attention before proj_out and projects every row).
        if (singleBlocks > 0)
            components.Add(new("image attention-output projection (single-stream proj_out)", g * singleBlocks * 2 * n * d * d, true, NeedsSparseFeedForward: true));
        components.AddRange(
        [
            new("image MLP", g * blocks * 16 * n * d * d, true, NeedsSparseFeedForward: true),
            new("text stream (projections, MLP, text-query attention)", g * (textLinear + blocks * 4 * l * s * d), false),
            new("embeddings and output layer", g * (2 * l * contextDim * d + 2 * n * patch * d * 2), false),
            new("modulation", modulationGflop, false),
        ]);
        return new SparseCostModel(name, imageTokens, textTokens, components);
    }
}
