using AccelAes.Engine.Acceleration.Fora;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.Sd3;

/// <summary>
/// diffusers <c>SD3Transformer2DModel</c> (transformer_sd3.py): SD3-Medium, SD3.5-Medium (MMDiT-X) and
/// SD3.5-Large. Forward: patch embed + cropped positions, temb = timestep MLP + pooled-text MLP, text through
/// <c>context_embedder</c>, joint blocks, <c>norm_out</c> (scale, shift), <c>proj_out</c>, unpatchify in
/// (ph, pw, c) order.
/// </summary>
public sealed class Sd3Transformer2DModel
{
    private readonly Sd3PatchEmbed _posEmbed;
    private readonly SiluMlp _timestepEmbedder;
    private readonly SiluMlp _textEmbedder;
    private readonly LinearLayer _contextEmbedder;
    private readonly JointTransformerBlock[] _blocks;
    private readonly AdaLayerNormContinuous _normOut;
    private readonly LinearLayer _projOut;

    public Sd3Transformer2DModel(WeightReader w, Sd3TransformerConfig config)
    {
        Config = config;
        int d = config.InnerDim;
        _posEmbed = new Sd3PatchEmbed(w.Scope("pos_embed"), config);
        _timestepEmbedder = new SiluMlp(w.Scope("time_text_embed.timestep_embedder"), 256, d, d);
        _textEmbedder = new SiluMlp(w.Scope("time_text_embed.text_embedder"), config.PooledProjectionDim, d, d);
        _contextEmbedder = LinearLayer.Load(w, "context_embedder", config.JointAttentionDim, config.CaptionProjectionDim);
        _blocks = new JointTransformerBlock[config.NumLayers];
        for (int i = 0; i < config.NumLayers; i++)
            _blocks[i] = new JointTransformerBlock(w.Scope($"transformer_blocks.{i}"), d, config.NumAttentionHeads, config.AttentionHeadDim,
                contextPreOnly: i == config.NumLayers - 1, qkNorm: config.QkNorm == "rms_norm",
                dualAttention: config.DualAttentionLayers.Contains(i));
        _normOut = new AdaLayerNormContinuous(w.Scope("norm_out"), d, d);
        _projOut = LinearLayer.Load(w, "proj_out", d, config.PatchSize * config.PatchSize * config.OutChannels);
    }

    public Sd3TransformerConfig Config { get; }

    /// <summary>Joint blocks (AesMask capture layers are indices into them).</summary>
    public int BlockCount => _blocks.Length;

    /// <param name="hiddenStates">Latents [B, in_channels, H, W].</param>
    /// <param name="encoderHiddenStates">Text embeddings [B, L, joint_attention_dim].</param>
    /// <param name="pooledProjections">Pooled text embeddings [B, pooled_projection_dim].</param>
    /// <param name="timestep">[B] in the scheduler's 0…1000 scale (1000·σ).</param>
    /// <param name="sparse">AccelAes state of this forward (capture, cache fill, sparse); null for a plain forward.</param>
    /// <returns>Velocity prediction [B, out_channels, H, W].</returns>
    public Tensor Forward(Tensor hiddenStates, Tensor encoderHiddenStates, Tensor pooledProjections, Tensor timestep, SparseForward? sparse = null)
    {
        Sd3EmbeddedStep step = Embed(hiddenStates, encoderHiddenStates, pooledProjections, timestep);
        // temporal=teacache: TeaCache decides whether the block stack runs (with this forward's AccelAes state) or is reused.
        Tensor image = sparse?.TeaCache is { } tea ? tea.BlockStack(new Sd3SplitForward(this, step, sparse)) : RunBlocks(step, sparse);
        return Output(image, step);
    }

    /// <summary>
    /// The forward's embeddings (the part before the first joint block): patch embedding with positions, temb =
    /// timestep MLP + pooled-text MLP and SiLU(temb), <c>context_embedder</c> on the text. The caching policies need them
    /// on their own: they decide from them what the blocks compute.
    /// </summary>
    public Sd3EmbeddedStep Embed(Tensor hiddenStates, Tensor encoderHiddenStates, Tensor pooledProjections, Tensor timestep)
    {
        ValidateInputs(hiddenStates, encoderHiddenStates, pooledProjections, timestep);
        IBackend be = hiddenStates.Backend;
        Tensor x = _posEmbed.Forward(hiddenStates);
        Tensor temb = be.Add(
            _timestepEmbedder.Forward(be.TimestepEmbedding(timestep, 256, flipSinToCos: true, downscaleFreqShift: 0)),
            _textEmbedder.Forward(pooledProjections));
        Tensor siluTemb = be.Activate(temb, Activation.Silu);
        Tensor context = _contextEmbedder.Forward(encoderHiddenStates);
        return new Sd3EmbeddedStep(x, context, siluTemb, hiddenStates.Shape[2], hiddenStates.Shape[3]);
    }

    /// <summary>Joint block 0's timestep-modulated image input (norm1(x, temb)[0]), without running the block.</summary>
    public Tensor FirstBlockModulatedInput(Sd3EmbeddedStep step) => _blocks[0].ModulatedImageInput(step.Image, step.SiluTemb);

    /// <summary>Joint block 0 alone (FBCache's signal is its residual); <see cref="RunBlocks"/> from block 1 continues.</summary>
    public void RunFirstBlock(Sd3EmbeddedStep step)
    {
        IBackend be = step.Image.Backend;
        using (be.Range("joint_block 0"))
            step.Context = _blocks[0].Forward(step.Image, step.Context!, step.SiluTemb, layer: 0);
    }

    /// <summary>
    /// The joint blocks from <paramref name="firstBlock"/> on, updating <see cref="Sd3EmbeddedStep.Image"/> in place;
    /// returns it. With <paramref name="outputs"/> (FORA) each block stores or reuses its attention and MLP outputs.
    /// </summary>
    /// <param name="sparse">AccelAes state of this forward (capture, cache fill, sparse); null for a plain forward.</param>
    public Tensor RunBlocks(Sd3EmbeddedStep step, SparseForward? sparse = null, BlockOutputCache? outputs = null, int firstBlock = 0)
    {
        IBackend be = step.Image.Backend;
        for (int i = firstBlock; i < _blocks.Length; i++)
            using (be.Range($"joint_block {i}"))
                step.Context = _blocks[i].Forward(step.Image, step.Context!, step.SiluTemb, sparse, i, outputs);
        return step.Image;
    }

    /// <summary>
    /// Joint blocks <paramref name="first"/> … <paramref name="end"/> − 1, as <see cref="RunBlocks"/> runs them (Δ-DiT's
    /// block ranges): the image in place, <see cref="Sd3EmbeddedStep.Context"/> replaced by each block's text output.
    /// </summary>
    public void RunBlockRange(Sd3EmbeddedStep step, int first, int end)
    {
        IBackend be = step.Image.Backend;
        for (int i = first; i < end; i++)
            using (be.Range($"joint_block {i}"))
                step.Context = _blocks[i].Forward(step.Image, step.Context!, step.SiluTemb, sparse: null, i);
    }

    /// <summary><c>proj_out(norm_out(x, temb))</c> unpatchified: the velocity [B, out_channels, H, W], with this step's temb.</summary>
    public Tensor Output(Tensor image, Sd3EmbeddedStep step)
    {
        Tensor y = _projOut.Forward(_normOut.Forward(image, step.SiluTemb));
        return image.Backend.Unpatchify(y, Config.OutChannels, step.Height, step.Width, Config.PatchSize, PatchLayout.ChannelMinor);
    }

    private void ValidateInputs(Tensor hidden, Tensor context, Tensor pooled, Tensor timestep)
    {
        var c = Config;
        ModelInputs.Require(hidden.Shape.Rank == 4 && hidden.Shape[1] == c.InChannels, "hidden_states",
            hidden.Shape, $"[B, {c.InChannels}, H, W]");
        int batch = hidden.Shape[0];
        ModelInputs.Require(hidden.Shape[2] % c.PatchSize == 0 && hidden.Shape[3] % c.PatchSize == 0, "hidden_states",
            hidden.Shape, $"height and width divisible by patch_size {c.PatchSize}");
        ModelInputs.Require(context.Shape.Rank == 3 && context.Shape[0] == batch && context.Shape[2] == c.JointAttentionDim,
            "encoder_hidden_states", context.Shape, $"[{batch}, L, {c.JointAttentionDim}]");
        ModelInputs.Require(pooled.Shape.Rank == 2 && pooled.Shape[0] == batch && pooled.Shape[1] == c.PooledProjectionDim,
            "pooled_projections", pooled.Shape, $"[{batch}, {c.PooledProjectionDim}]");
        ModelInputs.Require(timestep.Shape.Rank == 1 && timestep.Shape[0] == batch, "timestep", timestep.Shape, $"[{batch}]");
    }
}
