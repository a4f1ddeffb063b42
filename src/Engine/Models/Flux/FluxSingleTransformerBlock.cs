using AccelAes.Engine.Acceleration.Fora;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Flux;

/// <summary>
/// diffusers <c>FluxSingleTransformerBlock</c>: one stream over the joined [text, image] tokens. The modulated
/// input feeds attention (<c>pre_only</c>, no output projection) and the MLP (<c>proj_mlp</c> → GELU-tanh) in
/// parallel; <c>proj_out</c> maps cat(attention, mlp) — attention columns first — back to D, and the result is
/// added through the gate of <see cref="AdaLayerNormZeroSingle"/>.
/// </summary>
public sealed class FluxSingleTransformerBlock
{
    private readonly AdaLayerNormZeroSingle _norm;
    private readonly LinearLayer _projMlp;
    private readonly FluxAttention _attn;
    private readonly LinearLayer _projOut;

    public FluxSingleTransformerBlock(WeightReader w, int dim, int heads, int headDim, float mlpRatio = 4f)
    {
        int mlpHidden = (int)(dim * mlpRatio);
        _norm = new AdaLayerNormZeroSingle(w.Scope("norm"), dim);
        _projMlp = LinearLayer.Load(w, "proj_mlp", dim, mlpHidden);
        _attn = new FluxAttention(w.Scope("attn"), dim, heads, headDim, joint: false, preOnly: true);
        _projOut = LinearLayer.Load(w, "proj_out", dim + mlpHidden, dim);
    }

    /// <summary>SkipSparse cache of the image rows of the block's pre-gate output <c>proj_out(cat(attn, mlp))</c>, [B, N, D].</summary>
    public const string DeltaCache = "single_delta";

    /// <summary>
    /// Attention-only SkipSparse (<c>sparse_ffn</c> off): cache of the image rows of the attention output before
    /// <c>proj_out</c>, [B, N, heads·hd]. The MLP branch is dense then, so the shared <c>proj_out</c> runs on every row and
    /// only the attention part of its input can be cached.
    /// </summary>
    public const string AttentionCache = "single_attn";

    /// <summary>FORA's cached pre-gate output of the block, every row [B, L + N, D].</summary>
    private const string ForaDelta = "fora_delta";

    /// <summary>
    /// Updates the joined tokens <paramref name="hidden"/> [B, L + N, D] (text first) in place. diffusers
    /// concatenates before and splits after every block; keeping the joined sequence across consecutive single
    /// blocks is the same arithmetic (concatenation and slicing are exact).
    /// </summary>
    /// <param name="textTokens">L, the text rows at the front of <paramref name="hidden"/> (the AccelAes paths treat them apart).</param>
    /// <param name="sparse">AccelAes state of this forward (null: plain dense forward). Fill step: the image rows of the
    /// pre-gate output become the cache <see cref="DeltaCache"/>. Sparse step: the query rows [all text, focus image]
    /// attend over the keys/values of every token, the MLP branch and <c>proj_out</c> run on those rows only, and the
    /// background image rows of the pre-gate output come from the cache (text rows are always fresh). With
    /// <see cref="SparseForward.SparseFeedForward"/> off the fill step caches the image rows of the attention output
    /// instead (<see cref="AttentionCache"/>), and a sparse step runs only the attention on the query rows: the MLP
    /// branch and <c>proj_out</c> cover every row, with the background attention rows from that cache.</param>
    /// <param name="layer">Cache key of this block (distinct from every other block's).</param>
    /// <param name="queries">The sparse forward's query rows (required on a sparse step).</param>
    /// <param name="outputs">FORA's cache (null without FORA). A computing step stores the pre-gate output
    /// <c>proj_out(cat(attn, mlp))</c> of every row; a reusing step adds it through this step's gate. FORA caches the
    /// attention and MLP outputs; here both feed one linear <c>proj_out</c>, so its output holds exactly what they would
    /// give it again, in a fifth of the memory of cat(attn, mlp).</param>
    public void Forward(Tensor hidden, Tensor siluTemb, FluxRotaryTable rope, int textTokens,
        SparseForward? sparse = null, int layer = 0, FluxQueryRows? queries = null, BlockOutputCache? outputs = null)
    {
        IBackend be = hidden.Backend;
        if (outputs is { Reusing: true })
        {
            be.AddGatedInPlace(hidden, outputs.Get(layer, ForaDelta), _norm.GateOnly(siluTemb));
            return;
        }
        var (normed, gate) = _norm.Forward(hidden, siluTemb);
        int batch = hidden.Shape[0], joint = hidden.Shape[1], d = hidden.Shape[2], n = joint - textTokens;
        if (sparse is { IsSparse: true })
        {
            if (queries is null) throw new InvalidOperationException("A sparse FLUX single-stream block needs the forward's query rows.");
            if (queries.TextTokens != textTokens || queries.ImageTokens != n)
                throw new InvalidOperationException($"Query rows for {queries.TextTokens} + {queries.ImageTokens} tokens do not fit a block over {textTokens} + {n}.");
            if (!sparse.SparseFeedForward)
            {
                AttentionOnlySparseStep(hidden, normed, gate, rope, textTokens, sparse, layer, queries);
                return;
            }
            Tensor rows = be.GatherRows(normed.Reshape(batch * joint, d), queries.JointRows).Reshape(batch, queries.Count, d);
            // As on a dense step: attention and MLP write their column slices of one buffer, no concatenation.
            Tensor joinedRows = be.Allocate(new Shape(batch, queries.Count, _projOut.InFeatures));
            _attn.ForwardInto(joinedRows, 0, normed, rope, queries);
            _projMlp.ForwardInto(joinedRows, _projOut.InFeatures - _projMlp.OutFeatures, rows, Activation.GeluTanh);
            Tensor deltaRows = _projOut.Forward(joinedRows);
            Tensor imageDelta = SparseRows.ScatterIntoCache(sparse, layer, DeltaCache, be.Slice(deltaRows, 1, textTokens, queries.FocusCount));
            be.AddGatedInPlace(hidden, be.Concat(1, be.Slice(deltaRows, 1, 0, textTokens), imageDelta), gate);
            return;
        }
        // cat(attention, mlp) without the copy: both write their column slice of one buffer (issue 16: 10.8 GB per
        // FLUX.1-dev step at 1024²). The values are the concatenation's exactly.
        int attnWidth = _projOut.InFeatures - _projMlp.OutFeatures;
        Tensor joined = be.Allocate(new Shape(batch, joint, _projOut.InFeatures));
        _attn.ForwardInto(joined, 0, normed, rope);
        _projMlp.ForwardInto(joined, attnWidth, normed, Activation.GeluTanh);
        if (sparse is { WritesCaches: true, SparseFeedForward: false })
            sparse.Store(layer, AttentionCache, be.Slice(be.Slice(joined, 1, textTokens, n), 2, 0, attnWidth));
        if (outputs is null && sparse is not { WritesCaches: true, SparseFeedForward: true })
        {
            // No cache keeps the pre-gate output: the gated residual is proj_out's epilogue (issue 16), never stored.
            _projOut.ForwardAddGated(hidden, joined, gate);
            return;
        }
        Tensor delta = _projOut.Forward(joined);
        outputs?.Store(layer, ForaDelta, delta);
        if (sparse is { WritesCaches: true, SparseFeedForward: true })
            sparse.Store(layer, DeltaCache, be.Slice(delta, 1, textTokens, n));
        be.AddGatedInPlace(hidden, delta, gate);
    }

    /// <summary>
    /// A sparse step with attention-only sparsity: the query rows (all text, focus image) attend over every token;
    /// their image rows are written into <see cref="AttentionCache"/>, whose background rows still hold the last fill
    /// step's attention; the MLP branch and <c>proj_out</c> then run on every row of cat(attention, mlp).
    /// </summary>
    private void AttentionOnlySparseStep(Tensor hidden, Tensor normed, Tensor gate, FluxRotaryTable rope, int textTokens,
        SparseForward sparse, int layer, FluxQueryRows queries)
    {
        IBackend be = hidden.Backend;
        Tensor attnRows = _attn.Forward(normed, rope, queries);
        Tensor imageAttn = SparseRows.ScatterIntoCache(sparse, layer, AttentionCache, be.Slice(attnRows, 1, textTokens, queries.FocusCount));
        Tensor attn = be.Concat(1, be.Slice(attnRows, 1, 0, textTokens), imageAttn);
        Tensor mlp = _projMlp.Forward(normed, Activation.GeluTanh);
        be.AddGatedInPlace(hidden, _projOut.Forward(be.Concat(2, attn, mlp)), gate);
    }
}
