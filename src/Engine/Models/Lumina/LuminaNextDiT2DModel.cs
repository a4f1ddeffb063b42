using AccelAes.Engine.Acceleration.Fora;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.Lumina;

/// <summary>
/// diffusers <c>LuminaNextDiT2DModel</c> (lumina_nextdit2d.py), the Lumina-Next / Lumina-Next-SFT backbone:
/// <list type="number">
/// <item>patch_embedder: (c, ph, pw) patches → Linear → tokens [B, N, D]; the RoPE table is cropped to the grid.</item>
/// <item>time_caption_embed: temb = MLP(sinusoid(t)) + Linear(LN(masked mean of raw captions)), width min(D, 1024);
/// t is Lumina's 1 − σ, not ×1000.</item>
/// <item>layers: <see cref="LuminaNextDiTBlock"/>, each reading SiLU(temb), the raw captions and their mask.</item>
/// <item>norm_out: LN(no affine, 1e-6)·(1 + linear_1(SiLU(temb))) → linear_2 → p·p·out_channels features,
/// unpatchified in <b>(ph, pw, c)</b> order (architectures.md pitfall 3) → [B, out_channels, H, W]
/// (8 channels with learn_sigma; the pipeline keeps the first half).</item>
/// </list>
/// diffusers' forward takes <c>image_rotary_emb</c> and <c>cross_attention_kwargs["base_sequence_length"]</c> from
/// the pipeline; here they are <see cref="LuminaRotaryTable"/> and an int, and
/// <see cref="Forward(Tensor, Tensor, Tensor, Tensor, SparseForward)"/> derives both exactly as LuminaText2ImgPipeline does
/// (<see cref="LuminaResolutionScaling"/>).
/// </summary>
public sealed class LuminaNextDiT2DModel
{
    private readonly LuminaPatchEmbed _patchEmbedder;
    private readonly LuminaCombinedTimestepCaptionEmbedding _timeCaptionEmbed;
    private readonly LuminaNextDiTBlock[] _layers;
    private readonly LuminaLayerNormContinuous _normOut;

    // --offload sequential: a layer's weights leave the device while the next one runs, so its FFN residual (which reads
    // ffn_norm2's weight) cannot wait for the next layer's norm1.
    private readonly bool _completesEachLayer;

    // The last RoPE table uploaded, so a sampling loop (same grid, same factors) uploads it once.
    private LuminaRotaryTable? _cachedTable;
    private int _cachedHeight, _cachedWidth;
    private LuminaRotary? _cachedRotary;

    public LuminaNextDiT2DModel(WeightReader w, LuminaNextDiTConfig config)
    {
        Config = config;
        int d = config.HiddenSize;
        _patchEmbedder = new LuminaPatchEmbed(w.Scope("patch_embedder"), config.PatchSize, config.InChannels, d);
        // An nn.Parameter that forward never reads; real checkpoints carry it, so it is bound (and then dropped).
        w.Get("pad_token", d);
        _timeCaptionEmbed = new LuminaCombinedTimestepCaptionEmbedding(w.Scope("time_caption_embed"), config.ConditioningDim, config.CrossAttentionDim);
        _layers = new LuminaNextDiTBlock[config.NumLayers];
        for (int i = 0; i < config.NumLayers; i++)
            _layers[i] = new LuminaNextDiTBlock(w.Scope($"layers.{i}"), config);
        _normOut = new LuminaLayerNormContinuous(w.Scope("norm_out"), d, config.ConditioningDim,
            config.PatchSize * config.PatchSize * config.OutChannels);
        _completesEachLayer = w.StreamsBlocks;
    }

    public LuminaNextDiTConfig Config { get; }

    /// <summary>Transformer layers (AesMask capture layers are indices into them).</summary>
    public int LayerCount => _layers.Length;

    /// <summary>Layers whose cross-attention reuses the self-attention query (identical query weights).</summary>
    public int LayersSharingQuery => _layers.Count(l => l.SharesQuery);

    /// <summary>
    /// The forward with the pipeline's own RoPE and proportional-attention choices for this latent size and the
    /// first batch item's timestep (LuminaText2ImgPipeline defaults: scaling_watershed 1.0, proportional_attn on).
    /// Reads the timestep on the host.
    /// </summary>
    /// <param name="sparse">AccelAes state of this forward; null for a plain forward (see the other overload).</param>
    public Tensor Forward(Tensor hiddenStates, Tensor timestep, Tensor encoderHiddenStates, Tensor encoderMask, SparseForward? sparse = null)
    {
        ValidateInputs(hiddenStates, timestep, encoderHiddenStates, encoderMask);
        float t0 = timestep.Backend.Download(timestep)[0];
        var scaling = LuminaResolutionScaling.ForPipeline(Config, hiddenStates.Shape[2], hiddenStates.Shape[3], t0);
        return Forward(hiddenStates, timestep, encoderHiddenStates, encoderMask, RotaryTableFor(hiddenStates, scaling), scaling.BaseSequenceLength,
            sparse);
    }

    /// <summary>The RoPE table the pipeline would build for this latent under <paramref name="scaling"/>.</summary>
    public LuminaRotaryTable RotaryTableFor(Tensor hiddenStates, LuminaResolutionScaling scaling)
    {
        var (gh, gw) = Grid(hiddenStates);
        return LuminaRotaryTable.Create(Config.HeadDim, gh, gw, scaling.LinearFactor, scaling.NtkFactor);
    }

    /// <summary>diffusers' forward with its pipeline arguments made explicit.</summary>
    /// <param name="hiddenStates">Latents [B, in_channels, H, W], H and W divisible by patch_size.</param>
    /// <param name="timestep">[B], Lumina's model time 1 − σ (0 = noise, 1 = image).</param>
    /// <param name="encoderHiddenStates">Caption features [B, L, cross_attention_dim].</param>
    /// <param name="encoderMask">[B, L], 1 = token, 0 = padding; each row needs at least one token.</param>
    /// <param name="imageRotaryEmb">A RoPE table covering at least the (H/p)×(W/p) token grid (its top-left corner is used).</param>
    /// <param name="baseSequenceLength">Proportional-attention base; null = proportional attention off.</param>
    /// <param name="sparse">AccelAes state of this forward (AesMask capture on attn2 of the capture layers, cache fill,
    /// SkipSparse; <see cref="LuminaNextDiTBlock.Forward"/>); null or a Full step: the plain dense forward. Its focus set
    /// is over the (H/p)·(W/p) token grid.</param>
    /// <returns>[B, out_channels, H, W].</returns>
    /// <remarks>The caption's keys and values are computed by this call (<see cref="PrepareCaptions"/>) and freed after it; a
    /// sampling loop prepares them once and calls
    /// <see cref="Forward(Tensor, Tensor, LuminaCaptionContext, LuminaRotaryTable, int?, SparseForward?)"/> (the same values).</remarks>
    public Tensor Forward(Tensor hiddenStates, Tensor timestep, Tensor encoderHiddenStates, Tensor encoderMask,
        LuminaRotaryTable imageRotaryEmb, int? baseSequenceLength, SparseForward? sparse = null)
    {
        ValidateInputs(hiddenStates, timestep, encoderHiddenStates, encoderMask);
        using LuminaCaptionContext captions = PerCallCaptions(encoderHiddenStates, encoderMask);
        return Forward(hiddenStates, timestep, captions, imageRotaryEmb, baseSequenceLength, sparse);
    }

    /// <summary>
    /// The forward over a caption context prepared once for the generation (<see cref="PrepareCaptions"/>): every layer's
    /// attn2 reads its keys and values instead of recomputing them. The same values as
    /// <see cref="Forward(Tensor, Tensor, Tensor, Tensor, LuminaRotaryTable, int?, SparseForward?)"/> with the context's captions.
    /// </summary>
    public Tensor Forward(Tensor hiddenStates, Tensor timestep, LuminaCaptionContext captions, LuminaRotaryTable imageRotaryEmb,
        int? baseSequenceLength, SparseForward? sparse = null)
    {
        LuminaEmbeddedStep step = Embed(hiddenStates, timestep, captions, imageRotaryEmb, baseSequenceLength);
        // temporal=teacache: TeaCache decides whether the layer stack runs (with this forward's AccelAes state) or is reused.
        Tensor image = sparse?.TeaCache is { } tea ? tea.BlockStack(new LuminaSplitForward(this, step, sparse)) : RunBlocks(step, sparse);
        return Output(image, step);
    }

    /// <summary>
    /// The forward's embeddings (the part before the first layer): patch embedding, the RoPE rows, temb from the timestep
    /// and the caption, SiLU(temb). The caching policies need them on their own: they decide what the layers compute.
    /// Inputs as <see cref="Forward(Tensor, Tensor, Tensor, Tensor, LuminaRotaryTable, int?, SparseForward?)"/>.
    /// </summary>
    public LuminaEmbeddedStep Embed(Tensor hiddenStates, Tensor timestep, Tensor encoderHiddenStates, Tensor encoderMask,
        LuminaRotaryTable imageRotaryEmb, int? baseSequenceLength)
    {
        ValidateInputs(hiddenStates, timestep, encoderHiddenStates, encoderMask);
        return Embed(hiddenStates, timestep, PerCallCaptions(encoderHiddenStates, encoderMask), imageRotaryEmb, baseSequenceLength);
    }

    /// <summary>
    /// The caption context of a call that is given raw captions: each layer computes its entry when it runs, as the layers always
    /// did (and a streamed block is uploaded once); inside a graph capture, eagerly, so the graph recomputes it on every replay.
    /// </summary>
    private LuminaCaptionContext PerCallCaptions(Tensor encoderHiddenStates, Tensor encoderMask)
        => PrepareCaptions(encoderHiddenStates, encoderMask, deferred: encoderHiddenStates.Backend is not IGraphCapableBackend { IsCapturing: true });

    /// <summary>
    /// <see cref="Embed(Tensor, Tensor, Tensor, Tensor, LuminaRotaryTable, int?)"/> over a caption context prepared once for the
    /// generation (<see cref="PrepareCaptions"/>; its captions and mask are the step's).
    /// </summary>
    public LuminaEmbeddedStep Embed(Tensor hiddenStates, Tensor timestep, LuminaCaptionContext captions, LuminaRotaryTable imageRotaryEmb,
        int? baseSequenceLength)
    {
        if (!ReferenceEquals(captions.Model, this))
            throw new ArgumentException("The caption context was prepared by another model; prepare it with the model that runs it.", nameof(captions));
        ValidateInputs(hiddenStates, timestep, captions.Captions, captions.Mask);
        if (imageRotaryEmb.HeadDim != Config.HeadDim)
            throw new ModelInputException("image_rotary_emb",
                $"The RoPE table is for head_dim {imageRotaryEmb.HeadDim}; this model's head_dim is {Config.HeadDim}.");
        if (baseSequenceLength is int b && b < 2)
            throw new ModelInputException("base_sequence_length",
                $"base_sequence_length {b} is not a valid logarithm base; it must be at least 2 (or absent to turn proportional attention off).");
        IBackend be = hiddenStates.Backend;
        Tensor x = _patchEmbedder.Forward(hiddenStates);
        LuminaRotary rotary = Upload(be, imageRotaryEmb, hiddenStates);
        Tensor temb = _timeCaptionEmbed.Forward(timestep, captions.CaptionEmbedding);
        Tensor siluTemb = be.Activate(temb, Activation.Silu);
        return new LuminaEmbeddedStep(x, rotary, captions, siluTemb, baseSequenceLength, hiddenStates.Shape[2], hiddenStates.Shape[3]);
    }

    /// <summary>
    /// What a generation's steps read from the caption alone (issue 16): temb's caption half and every layer's attn2 keys and
    /// values (norm1_context → to_k → norm_k, and to_v), computed here once instead of in every step. The caller owns
    /// the context: it passes it to each step's <see cref="Forward(Tensor, Tensor, LuminaCaptionContext, LuminaRotaryTable, int?, SparseForward?)"/>
    /// or <see cref="Embed(Tensor, Tensor, LuminaCaptionContext, LuminaRotaryTable, int?)"/>, keeps it alive while captured
    /// steps replay, and disposes it after the last.
    /// </summary>
    /// <param name="encoderHiddenStates">Caption features [B, L, cross_attention_dim].</param>
    /// <param name="encoderMask">[B, L], 1 = token, 0 = padding.</param>
    /// <param name="deferred">Compute each layer's entry when the layer first runs (<see cref="LuminaCaptionContext.IsDeferred"/>):
    /// only where no step is captured as a graph (streamed block weights).</param>
    public LuminaCaptionContext PrepareCaptions(Tensor encoderHiddenStates, Tensor encoderMask, bool deferred = false)
    {
        var c = Config;
        ModelInputs.Require(encoderHiddenStates.Shape.Rank == 3 && encoderHiddenStates.Shape[0] > 0 && encoderHiddenStates.Shape[1] > 0
            && encoderHiddenStates.Shape[2] == c.CrossAttentionDim, "encoder_hidden_states", encoderHiddenStates.Shape, $"[B, L, {c.CrossAttentionDim}]");
        ModelInputs.Require(encoderMask.Shape == new Shape(encoderHiddenStates.Shape[0], encoderHiddenStates.Shape[1]), "encoder_mask", encoderMask.Shape,
            $"[{encoderHiddenStates.Shape[0]}, {encoderHiddenStates.Shape[1]}] (one entry per caption token)");
        Tensor captionEmbedding = _timeCaptionEmbed.CaptionEmbedding(encoderHiddenStates, encoderMask);
        return new LuminaCaptionContext(this, encoderHiddenStates, encoderMask, captionEmbedding, _layers, deferred);
    }

    /// <summary>Layer 0's modulated input RMSNorm(x)·(1 + scale_msa), without running the layer.</summary>
    public Tensor FirstBlockModulatedInput(LuminaEmbeddedStep step) => _layers[0].ModulatedInput(step.Image, step.SiluTemb);

    /// <summary>
    /// Layers <paramref name="firstBlock"/> up to (not including) <paramref name="lastBlock"/> (default: every layer),
    /// updating <see cref="LuminaEmbeddedStep.Image"/> in place; returns it. With <paramref name="outputs"/> (FORA,
    /// TaylorSeer) each layer stores or reuses its attention and FFN outputs. Inside the range each layer's FFN residual
    /// update is applied by the next layer's norm1 (<see cref="PendingResidual"/>); the range's last one is applied here,
    /// so the image is complete on return whatever reads it next (norm_out, a caching policy, the next range). With streamed
    /// block weights (<see cref="WeightReader.StreamsBlocks"/>) every layer applies its own.
    /// </summary>
    public Tensor RunBlocks(LuminaEmbeddedStep step, SparseForward? sparse = null, BlockOutputCache? outputs = null, int firstBlock = 0,
        int? lastBlock = null)
    {
        IBackend be = step.Image.Backend;
        PendingResidual? pending = null;
        for (int i = firstBlock; i < (lastBlock ?? _layers.Length); i++)
        {
            using (be.Range($"layer {i}"))
                pending = _layers[i].Forward(step.Image, step.Rotary, step.Captions, step.SiluTemb, step.BaseSequenceLength,
                    sparse, i, outputs, pending);
            if (_completesEachLayer)
            {
                pending?.Apply(step.Image);
                pending = null;
            }
        }
        pending?.Apply(step.Image);
        return step.Image;
    }

    /// <summary><c>norm_out</c> (and its projection) unpatchified: the model output [B, out_channels, H, W], with this step's temb.</summary>
    public Tensor Output(Tensor image, LuminaEmbeddedStep step)
    {
        Tensor y = _normOut.Forward(image, step.SiluTemb);
        return image.Backend.Unpatchify(y, Config.OutChannels, step.Height, step.Width, Config.PatchSize, PatchLayout.ChannelMinor);
    }

    /// <summary>
    /// Checks a caption mask on the host (once per call site, not per step): values must be 0 or 1 — diffusers pools
    /// with the mask's values but attends with its truth value, which only agree for 0/1 — and every row needs a
    /// real token (diffusers' pool would divide by zero and its softmax would be all −∞: NaN everywhere).
    /// </summary>
    /// <param name="inputName">The name the caller knows the mask by (encoder_mask, prompt_attention_mask, …).</param>
    public static void CheckCaptionMask(Tensor mask, string inputName)
    {
        if (mask.Shape.Rank != 2)
            throw new ModelInputException(inputName, $"Input '{inputName}' has shape {mask.Shape}; expected [B, L].");
        float[] m = mask.Backend.Download(mask);
        int length = mask.Shape[1];
        for (int b = 0; b < mask.Shape[0]; b++)
        {
            int tokens = 0;
            for (int l = 0; l < length; l++)
            {
                float v = m[b * length + l];
                if (v != 0f && v != 1f)
                    throw new ModelInputException(inputName,
                        $"Input '{inputName}' has value {v} at [{b}, {l}]; a caption mask holds 0 (padding) or 1 (token).");
                if (v == 1f) tokens++;
            }
            if (tokens == 0)
                throw new ModelInputException(inputName,
                    $"Input '{inputName}' masks every caption token of batch item {b}; at least one token must be 1 (diffusers would produce NaN).");
        }
    }

    private (int Height, int Width) Grid(Tensor hiddenStates)
        => (hiddenStates.Shape[2] / Config.PatchSize, hiddenStates.Shape[3] / Config.PatchSize);

    private LuminaRotary Upload(IBackend be, LuminaRotaryTable table, Tensor hiddenStates)
    {
        var (gh, gw) = Grid(hiddenStates);
        if (gh > table.Height || gw > table.Width)
            throw new ModelInputException("image_rotary_emb",
                $"The RoPE table covers a {table.Height}×{table.Width} token grid; hidden_states {hiddenStates.Shape} needs {gh}×{gw}.");
        if (_cachedRotary is not null && ReferenceEquals(_cachedTable, table) && _cachedHeight == gh && _cachedWidth == gw
            && _cachedRotary.Cos.Backend == be)
            return _cachedRotary;
        LuminaRotaryTable crop = table.Crop(gh, gw);
        var shape = new Shape(gh * gw, crop.Pairs);
        _cachedRotary = new LuminaRotary(be.Upload(crop.Cos, shape), be.Upload(crop.Sin, shape));
        (_cachedTable, _cachedHeight, _cachedWidth) = (table, gh, gw);
        return _cachedRotary;
    }

    private void ValidateInputs(Tensor hidden, Tensor timestep, Tensor captions, Tensor mask)
    {
        var c = Config;
        ModelInputs.Require(hidden.Shape.Rank == 4 && hidden.Shape[1] == c.InChannels && hidden.Shape[0] > 0, "hidden_states",
            hidden.Shape, $"[B, {c.InChannels}, H, W]");
        int batch = hidden.Shape[0];
        ModelInputs.Require(hidden.Shape[2] % c.PatchSize == 0 && hidden.Shape[3] % c.PatchSize == 0
            && hidden.Shape[2] > 0 && hidden.Shape[3] > 0, "hidden_states",
            hidden.Shape, $"a non-empty height and width divisible by patch_size {c.PatchSize}");
        ModelInputs.Require(timestep.Shape.Rank == 1 && timestep.Shape[0] == batch, "timestep", timestep.Shape, $"[{batch}]");
        ModelInputs.Require(captions.Shape.Rank == 3 && captions.Shape[0] == batch && captions.Shape[1] > 0
            && captions.Shape[2] == c.CrossAttentionDim, "encoder_hidden_states", captions.Shape, $"[{batch}, L, {c.CrossAttentionDim}]");
        ModelInputs.Require(mask.Shape.Rank == 2 && mask.Shape[0] == batch && mask.Shape[1] == captions.Shape[1],
            "encoder_mask", mask.Shape, $"[{batch}, {captions.Shape[1]}] (one entry per caption token)");
    }
}
