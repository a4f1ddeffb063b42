using AccelAes.Engine.Acceleration.Fora;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.Flux;

/// <summary>
/// diffusers <c>FluxTransformer2DModel</c> (transformer_flux.py): FLUX.1-dev and FLUX.1-schnell. Works on packed
/// latent tokens (the pipeline packs 2×2 patches; architectures.md §4.4). Forward: <c>x_embedder</c> and
/// <c>context_embedder</c>; temb from σ·1000 (and guidance·1000) plus the pooled text; a rotary table from
/// cat(txt_ids, img_ids); double-stream blocks over [text, image]; single-stream blocks over the joined sequence;
/// <c>norm_out</c> (scale, shift) and <c>proj_out</c> on the image tokens.
/// </summary>
public sealed class FluxTransformer2DModel
{
    /// <summary>FluxPosEmbed's θ, fixed in diffusers' constructor.</summary>
    public const int RopeTheta = 10000;

    private readonly LinearLayer _xEmbedder;
    private readonly LinearLayer _contextEmbedder;
    private readonly CombinedTimestepTextProjEmbeddings _timeTextEmbed;
    private readonly FluxTransformerBlock[] _transformerBlocks;
    private readonly FluxSingleTransformerBlock[] _singleTransformerBlocks;
    private readonly AdaLayerNormContinuous _normOut;
    private readonly LinearLayer _projOut;

    public FluxTransformer2DModel(WeightReader w, FluxTransformerConfig config)
    {
        Config = config;
        int d = config.InnerDim;
        PosEmbed = new FluxPosEmbed(RopeTheta, config.AxesDimsRope);
        _timeTextEmbed = new CombinedTimestepTextProjEmbeddings(w.Scope("time_text_embed"), d, config.PooledProjectionDim, config.GuidanceEmbeds);
        _contextEmbedder = LinearLayer.Load(w, "context_embedder", config.JointAttentionDim, d);
        _xEmbedder = LinearLayer.Load(w, "x_embedder", config.InChannels, d);
        _transformerBlocks = new FluxTransformerBlock[config.NumLayers];
        for (int i = 0; i < config.NumLayers; i++)
            _transformerBlocks[i] = new FluxTransformerBlock(w.Scope($"transformer_blocks.{i}"), d, config.NumAttentionHeads, config.AttentionHeadDim);
        _singleTransformerBlocks = new FluxSingleTransformerBlock[config.NumSingleLayers];
        for (int i = 0; i < config.NumSingleLayers; i++)
            _singleTransformerBlocks[i] = new FluxSingleTransformerBlock(w.Scope($"single_transformer_blocks.{i}"), d, config.NumAttentionHeads, config.AttentionHeadDim);
        _normOut = new AdaLayerNormContinuous(w.Scope("norm_out"), d, d);
        _projOut = LinearLayer.Load(w, "proj_out", d, config.OutputTokenWidth);
    }

    public FluxTransformerConfig Config { get; }

    /// <summary>Double-stream blocks (AesMask capture layers are indices into them).</summary>
    public int DoubleBlockCount => _transformerBlocks.Length;

    /// <summary>Single-stream blocks.</summary>
    public int SingleBlockCount => _singleTransformerBlocks.Length;

    /// <summary>The rotary table builder (<c>pos_embed</c>); callers that reuse ids across steps can build the table once.</summary>
    public FluxPosEmbed PosEmbed { get; }

    /// <param name="hiddenStates">Packed latent tokens [B, N, in_channels].</param>
    /// <param name="encoderHiddenStates">T5 embeddings [B, L, joint_attention_dim].</param>
    /// <param name="pooledProjections">Pooled CLIP embeddings [B, pooled_projection_dim].</param>
    /// <param name="timestep">[B]: σ ∈ [0, 1] as the pipeline passes it (t / 1000); multiplied by 1000 here.</param>
    /// <param name="imgIds">Image position ids [N, n_axes] (a deprecated leading batch dimension is dropped, as diffusers does).</param>
    /// <param name="txtIds">Text position ids [L, n_axes] (zeros in FluxPipeline).</param>
    /// <param name="guidance">[B] distilled guidance scale; required exactly when <c>guidance_embeds</c>.</param>
    /// <param name="sparse">AccelAes state of this forward; null for a plain forward (see the overload with a rotary table).</param>
    /// <returns>Velocity tokens [B, N, patch_size²·out_channels].</returns>
    public Tensor Forward(Tensor hiddenStates, Tensor encoderHiddenStates, Tensor pooledProjections, Tensor timestep,
        Tensor imgIds, Tensor txtIds, Tensor? guidance = null, SparseForward? sparse = null)
    {
        imgIds = DropBatchDimension(imgIds);
        txtIds = DropBatchDimension(txtIds);
        int axes = PosEmbed.Axes;
        int n = hiddenStates.Shape.Rank == 3 ? hiddenStates.Shape[1] : -1;
        int l = encoderHiddenStates.Shape.Rank == 3 ? encoderHiddenStates.Shape[1] : -1;
        ModelInputs.Require(imgIds.Shape.Rank == 2 && imgIds.Shape[1] == axes && (n < 0 || imgIds.Shape[0] == n), "img_ids",
            imgIds.Shape, $"[{(n < 0 ? "N" : n)}, {axes}]: one row per image token of hidden_states, one column per axes_dims_rope entry");
        ModelInputs.Require(txtIds.Shape.Rank == 2 && txtIds.Shape[1] == axes && (l < 0 || txtIds.Shape[0] == l), "txt_ids",
            txtIds.Shape, $"[{(l < 0 ? "L" : l)}, {axes}]: one row per text token of encoder_hidden_states, one column per axes_dims_rope entry");
        FluxRotaryTable rope = PosEmbed.Forward(hiddenStates.Backend.Concat(0, txtIds, imgIds));
        return Forward(hiddenStates, encoderHiddenStates, pooledProjections, timestep, guidance, rope, sparse);
    }

    /// <summary>
    /// The forward with a rotary table already built from cat(txt_ids, img_ids) by <see cref="PosEmbed"/>:
    /// <see cref="Embed"/>, <see cref="RunBlocks"/>, <see cref="Output"/>.
    /// </summary>
    /// <param name="sparse">AccelAes state of this forward; null for a plain forward (see <see cref="RunBlocks"/>).</param>
    public Tensor Forward(Tensor hiddenStates, Tensor encoderHiddenStates, Tensor pooledProjections, Tensor timestep,
        Tensor? guidance, FluxRotaryTable rope, SparseForward? sparse = null)
    {
        FluxEmbeddedStep step = Embed(hiddenStates, encoderHiddenStates, pooledProjections, timestep, guidance, rope);
        // temporal=teacache: TeaCache decides whether the block stack runs (with this forward's AccelAes state) or is reused.
        Tensor image = sparse?.TeaCache is { } tea ? tea.BlockStack(new FluxSplitForward(this, step, rope, sparse)) : RunBlocks(step, rope, sparse);
        return Output(image, step);
    }

    /// <summary>
    /// The forward's embeddings (the part before the first block): <c>x_embedder</c> on the latent tokens,
    /// temb = <c>time_text_embed</c>(σ·1000, guidance·1000, pooled) and SiLU(temb), <c>context_embedder</c> on the text.
    /// TeaCache needs them on their own: it decides from them whether the blocks run at all.
    /// </summary>
    public FluxEmbeddedStep Embed(Tensor hiddenStates, Tensor encoderHiddenStates, Tensor pooledProjections, Tensor timestep,
        Tensor? guidance, FluxRotaryTable rope)
    {
        ValidateInputs(hiddenStates, encoderHiddenStates, pooledProjections, timestep, guidance, rope);
        IBackend be = hiddenStates.Backend;
        Tensor image = _xEmbedder.Forward(hiddenStates);
        // The pipeline passes σ; the embeddings scale timestep and guidance by 1000 (in fp32 on every backend).
        Tensor temb = _timeTextEmbed.Forward(timestep, guidance, pooledProjections);
        Tensor siluTemb = be.Activate(temb, Activation.Silu);
        Tensor text = _contextEmbedder.Forward(encoderHiddenStates);
        return new FluxEmbeddedStep(image, text, siluTemb);
    }

    /// <summary>
    /// The first double-stream block's timestep-modulated image input, <c>transformer_blocks[0].norm1(image, temb)[0]</c>
    /// = LayerNorm(image)·(1 + scale_msa) + shift_msa: the signal TeaCache compares between steps.
    /// </summary>
    public Tensor FirstBlockModulatedInput(FluxEmbeddedStep step)
    {
        if (_transformerBlocks.Length == 0)
            throw new AccelAesException("This FLUX transformer has no double-stream block (num_layers 0), so it has no first-block modulated input.");
        return _transformerBlocks[0].ModulatedImageInput(step.Image, step.SiluTemb);
    }

    /// <summary>
    /// Every block: double-stream blocks over (image, text), single-stream blocks over [text, image]; returns the image
    /// tokens after the last block [B, N, D]. Updates <see cref="FluxEmbeddedStep.Image"/> and
    /// <see cref="FluxEmbeddedStep.Text"/> in place (copy the image first to keep it).
    /// </summary>
    /// <param name="sparse">AccelAes state of this forward (capture, cache fill, sparse); null for a plain forward. AesMask
    /// captures in the double-stream blocks (capture layer i = double-stream block i); SkipSparse runs in both kinds of
    /// block, with focus queries [all text, focus image tokens] over the keys/values of every token.</param>
    public Tensor RunBlocks(FluxEmbeddedStep step, FluxRotaryTable rope, SparseForward? sparse = null)
        => RunBlocksFrom(0, step, rope, sparse, outputs: null);

    /// <summary>
    /// Double-stream block 0 alone, updating <see cref="FluxEmbeddedStep.Image"/> and <see cref="FluxEmbeddedStep.Text"/>
    /// in place: FBCache's signal is its residual. <see cref="RunBlocksAfterFirst"/> continues from there.
    /// </summary>
    public void RunFirstBlock(FluxEmbeddedStep step, FluxRotaryTable rope)
    {
        if (_transformerBlocks.Length == 0)
            throw new AccelAesException("This FLUX transformer has no double-stream block (num_layers 0), so it has no first block to cache on.");
        using (step.Image.Backend.Range("transformer_block 0"))
            _transformerBlocks[0].Forward(step.Image, step.Text, step.SiluTemb, rope);
    }

    /// <summary>
    /// Every block after double-stream block 0 (<see cref="RunFirstBlock"/> ran it): together the same arithmetic as
    /// <see cref="RunBlocks(FluxEmbeddedStep, FluxRotaryTable, SparseForward?)"/>. Returns the image tokens after the last block.
    /// </summary>
    public Tensor RunBlocksAfterFirst(FluxEmbeddedStep step, FluxRotaryTable rope)
        => RunBlocksFrom(1, step, rope, sparse: null, outputs: null);

    /// <summary>
    /// Every block under FORA: on a computing step each block runs densely and stores its attention and MLP outputs in
    /// <paramref name="outputs"/>; on a reusing step each block adds the stored outputs through this step's gates.
    /// </summary>
    public Tensor RunBlocksWithOutputCache(FluxEmbeddedStep step, FluxRotaryTable rope, BlockOutputCache outputs)
        => RunBlocksFrom(0, step, rope, sparse: null, outputs);

    /// <summary>
    /// Double-stream blocks <paramref name="first"/> … <paramref name="end"/> − 1 on (<see cref="FluxEmbeddedStep.Image"/>,
    /// <see cref="FluxEmbeddedStep.Text"/>) in place, as <see cref="RunBlocks(FluxEmbeddedStep, FluxRotaryTable, SparseForward?)"/>
    /// runs them (Δ-DiT's block ranges).
    /// </summary>
    public void RunDoubleBlocks(FluxEmbeddedStep step, FluxRotaryTable rope, int first, int end)
    {
        IBackend be = step.Image.Backend;
        for (int i = first; i < end; i++)
            using (be.Range($"transformer_block {i}"))
                _transformerBlocks[i].Forward(step.Image, step.Text, step.SiluTemb, rope, sparse: null, i);
    }

    /// <summary>
    /// Single-stream blocks <paramref name="first"/> … <paramref name="end"/> − 1 (counted among the single-stream blocks) on
    /// <paramref name="joint"/> = [text, image] in place, as the full forward runs them (Δ-DiT's block ranges).
    /// </summary>
    public void RunSingleBlocks(Tensor joint, FluxEmbeddedStep step, FluxRotaryTable rope, int first, int end)
    {
        IBackend be = joint.Backend;
        for (int i = first; i < end; i++)
            using (be.Range($"single_transformer_block {i}"))
                _singleTransformerBlocks[i].Forward(joint, step.SiluTemb, rope, step.Text.Shape[1], sparse: null, _transformerBlocks.Length + i);
    }

    private Tensor RunBlocksFrom(int firstDoubleBlock, FluxEmbeddedStep step, FluxRotaryTable rope, SparseForward? sparse, BlockOutputCache? outputs)
    {
        Tensor image = step.Image, text = step.Text, siluTemb = step.SiluTemb;
        IBackend be = image.Backend;
        int l = text.Shape[1], n = image.Shape[1];

        // A sparse forward's query rows and their rotary rows, shared by every block.
        FluxQueryRows? queries = sparse is { IsSparse: true }
            ? FluxQueryRows.Create(be, sparse, rope, image.Shape[0], l, n)
            : null;
        for (int i = firstDoubleBlock; i < _transformerBlocks.Length; i++)
            using (be.Range($"transformer_block {i}"))
                _transformerBlocks[i].Forward(image, text, siluTemb, rope, sparse, i, queries, outputs);

        // Single-stream blocks run on [text, image] (architectures.md §0.2); the image tokens are split off at the end.
        // Their caches are keyed by their index after the double-stream blocks (and a name of their own).
        Tensor joint = be.Concat(1, text, image);
        for (int i = 0; i < _singleTransformerBlocks.Length; i++)
            using (be.Range($"single_transformer_block {i}"))
                _singleTransformerBlocks[i].Forward(joint, siluTemb, rope, l, sparse, _transformerBlocks.Length + i, queries, outputs);
        return be.Slice(joint, 1, l, n);
    }

    /// <summary><c>proj_out(norm_out(image, temb))</c>: the velocity of image tokens [B, N, D], with this step's temb.</summary>
    public Tensor Output(Tensor image, FluxEmbeddedStep step) => _projOut.Forward(_normOut.Forward(image, step.SiluTemb));

    private static Tensor DropBatchDimension(Tensor ids)
        => ids.Shape.Rank == 3 && ids.Shape[0] >= 1
            ? ids.Backend.Slice(ids, 0, 0, 1).Reshape(ids.Shape[1], ids.Shape[2])
            : ids;

    private void ValidateInputs(Tensor hidden, Tensor context, Tensor pooled, Tensor timestep, Tensor? guidance, FluxRotaryTable rope)
    {
        var c = Config;
        ModelInputs.Require(hidden.Shape.Rank == 3 && hidden.Shape[2] == c.InChannels, "hidden_states",
            hidden.Shape, $"[B, N, {c.InChannels}] (packed latent tokens)");
        int batch = hidden.Shape[0], n = hidden.Shape[1];
        ModelInputs.Require(context.Shape.Rank == 3 && context.Shape[0] == batch && context.Shape[2] == c.JointAttentionDim,
            "encoder_hidden_states", context.Shape, $"[{batch}, L, {c.JointAttentionDim}]");
        ModelInputs.Require(pooled.Shape.Rank == 2 && pooled.Shape[0] == batch && pooled.Shape[1] == c.PooledProjectionDim,
            "pooled_projections", pooled.Shape, $"[{batch}, {c.PooledProjectionDim}]");
        ModelInputs.Require(timestep.Shape.Rank == 1 && timestep.Shape[0] == batch, "timestep", timestep.Shape, $"[{batch}]");
        if (c.GuidanceEmbeds && guidance is null)
            throw new ModelInputException("guidance",
                "This FLUX transformer embeds the distilled guidance scale (guidance_embeds: true, as FLUX.1-dev) and needs input 'guidance' " +
                $"[{batch}] (the guidance scale, e.g. 3.5).");
        if (!c.GuidanceEmbeds && guidance is not null)
            throw new ModelInputException("guidance",
                "This FLUX transformer has no guidance embedder (guidance_embeds: false, as FLUX.1-schnell); input 'guidance' must not be given.");
        if (guidance is not null)
            ModelInputs.Require(guidance.Shape.Rank == 1 && guidance.Shape[0] == batch, "guidance", guidance.Shape, $"[{batch}]");
        int s = context.Shape[1] + n;
        if (rope.Cos.Shape != new Shape(s, PosEmbed.Pairs) || rope.Sin.Shape != rope.Cos.Shape)
            throw new ModelInputException("image_rotary_emb",
                $"The rotary table {rope.Cos.Shape} does not cover the {s} text + image tokens; expected [{s}, {PosEmbed.Pairs}].");
    }
}
