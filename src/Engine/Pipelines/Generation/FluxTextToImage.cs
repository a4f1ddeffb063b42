using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.AesMask;
using AccelAes.Engine.Acceleration.Runtime;
using System.Diagnostics;
using AccelAes.Engine.Components;
using AccelAes.Engine.Models.Flux;
using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Models.Vae;
using AccelAes.Engine.Planning;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.Tokenizers;

namespace AccelAes.Engine.Pipelines.Generation;

/// <summary>
/// <c>FluxPipeline</c> (FLUX.1-dev / -schnell) from prompt to image, as pipeline_flux.py does it (line numbers:
/// the diffusers mirror at 58eb52c):
/// <list type="number">
/// <item>CLIP (<c>tokenizer</c>, 77 tokens) → <c>CLIPTextModel.pooler_output</c> as pooled embeddings; T5
/// (<c>tokenizer_2</c>, 512 tokens, no mask) → <c>last_hidden_state</c> as prompt embeddings
/// (<see cref="PromptConditioning.Flux"/>). The negative prompt is encoded only for true CFG (L766–805).</item>
/// <item>Initial noise N(0, 1) in the unpacked layout [1, in_channels/4, 2·⌊H/16⌋, 2·⌊W/16⌋], then packed into
/// 2×2-patch tokens, as <c>prepare_latents</c> draws and packs it (L556–572).</item>
/// <item>The <see cref="FluxPipeline"/> loop: σ = linspace(1, 1/N, N), μ from the packed token count, the
/// guidance scale embedded when the transformer has a guidance embedder (L846), true CFG when
/// <see cref="GenerationRequest.TrueCfgScale"/> &gt; 1 (diffusers also needs a <c>negative_prompt</c> for it, L766–769;
/// a request always has one, "" by default, which is what passing <c>negative_prompt=""</c> does).</item>
/// <item>Unpack, then <c>vae.decode(z / scaling_factor + shift_factor)</c> (L959–961).</item>
/// </list>
/// Defaults: 28 steps, guidance 3.5 (L609, L611), max_sequence_length 512 — except for a FLUX.1-schnell model (no
/// guidance embedder and an unshifted scheduler, <see cref="PipelineDefaults.IsFluxSchnell"/>), which samples with its
/// model card's 4 steps, guidance 0 and max_sequence_length 256, and says so in the result's warnings. Size <c>default_sample_size · vae_scale_factor</c> = 128 · 8 =
/// 1024 whatever the transformer (L215, L729–730), and sizes in multiples of vae_scale_factor · 2 = 16. diffusers
/// only warns about other sizes and rounds the latents down (L451–454); this pipeline refuses them.
/// </summary>
public sealed class FluxTextToImage : ITextToImagePipeline
{
    /// <summary>FluxPipeline's <c>default_sample_size</c>: a constant, not the transformer's sample size.</summary>
    public const int DefaultSampleSize = 128;

    private readonly IPromptTokenizer _clipTokenizer, _t5Tokenizer;
    private TokenImportance? _importance;
    private readonly ComponentResidency _parts;
    private readonly ClipTextConfig _clipConfig;
    private readonly T5Config _t5Config;
    private readonly FluxTransformerConfig _transformerConfig;
    private readonly AutoencoderKLConfig _vaeConfig;
    private readonly FlowMatchEulerSchedulerConfig _scheduler;
    private readonly IBackend _backend;
    private readonly int _vaeScaleFactor;

    public FluxTextToImage(ModelFolder folder, IBackend backend, string? variant = null, FlowMatchEulerSchedulerConfig? scheduler = null,
        ResidencyPolicy residency = ResidencyPolicy.None, WeightPrecision weights = WeightPrecision.AsStored)
    {
        var watch = Stopwatch.StartNew();
        _backend = backend;
        _clipTokenizer = GenerationSupport.LoadTokenizer(folder, "tokenizer");
        _t5Tokenizer = GenerationSupport.LoadTokenizer(folder, "tokenizer_2");
        _parts = new ComponentResidency(backend, residency, folder)
            .Add("text_encoder", textEncoder: true, () => GenerationSupport.Load<ClipTextComponent>(folder, "text_encoder", backend, variant).TextModel
                ?? throw new AccelAesException("FLUX's text_encoder must be a CLIPTextModel (its pooler_output is the pooled embedding), not a CLIPTextModelWithProjection."))
            .Add("text_encoder_2", textEncoder: true, () => GenerationSupport.Load<T5EncoderComponent>(folder, "text_encoder_2", backend, variant).Model)
            .AddTransformer("transformer", stream => GenerationSupport.Load<FluxTransformerComponent>(folder, "transformer", backend, variant, weights, stream).Model)
            .Add("vae", textEncoder: false, () => GenerationSupport.Load<AutoencoderKLComponent>(folder, "vae", backend, variant).Model);
        _parts.LoadResident();
        // The configs the loaded models were built from (ComponentLoader parses the same config.json files).
        _clipConfig = ClipTextConfig.From(folder.Component("text_encoder").Config);
        _t5Config = T5Config.From(folder.Component("text_encoder_2").Config);
        _transformerConfig = FluxTransformerConfig.From(folder.Component("transformer").Config);
        _vaeConfig = AutoencoderKLConfig.From(folder.Component("vae").Config);
        _vaeScaleFactor = GenerationSupport.VaeScaleFactor(_vaeConfig);
        _scheduler = scheduler ?? PipelineFactory.SchedulerOf(folder, FluxTransformerConfig.ClassName).Config;
        Defaults = PipelineDefaults.ForFlux(_transformerConfig, _scheduler);
        CheckWidths();
        LoadTime = watch.Elapsed;
    }

    private ClipTextModel Clip => _parts.Get<ClipTextModel>("text_encoder");
    private T5EncoderModel T5 => _parts.Get<T5EncoderModel>("text_encoder_2");
    private FluxTransformer2DModel Transformer => _parts.Get<FluxTransformer2DModel>("transformer");
    private AutoencoderKL Vae => _parts.Get<AutoencoderKL>("vae");

    /// <summary>Which components stay on the backend between phases.</summary>
    public ResidencyPolicy Residency => _parts.Policy;

    public string PipelineClass => "FluxPipeline";

    /// <summary>FluxPipeline's defaults, or FLUX.1-schnell's model card's for a schnell model.</summary>
    public PipelineDefaults Defaults { get; }

    /// <summary>Whether this is a FLUX.1-schnell model (no guidance embedder, unshifted scheduler).</summary>
    public bool IsSchnell => Defaults == PipelineDefaults.FluxSchnell;

    public int DefaultSteps => Defaults.Steps;
    public float DefaultGuidanceScale => Defaults.GuidanceScale;
    public int DefaultWidth => DefaultSampleSize * _vaeScaleFactor;
    public int DefaultHeight => DefaultWidth;
    public int SizeMultiple => _vaeScaleFactor * FluxLatentPacking.PatchSize;
    public ImageSideLimit MaxImageSide => ImageSideLimit.EngineWide;
    public TimeSpan LoadTime { get; }

    private readonly int? _maxSequenceLength;

    /// <summary>diffusers' <c>max_sequence_length</c>: T5 tokens, at most 512 (default 512, FLUX.1-schnell 256).</summary>
    public int MaxSequenceLength
    {
        get => _maxSequenceLength ?? Defaults.MaxSequenceLength;
        init => _maxSequenceLength = value;
    }

    public GenerationResult Generate(GenerationRequest request, IProgress<GenerationProgress>? progress = null, CancellationToken cancel = default)
    {
        DenoisedLatents run = Denoise(request, progress, cancel);
        cancel.ThrowIfCancellationRequested();
        int latentHeight = run.Height / _vaeScaleFactor, latentWidth = run.Width / _vaeScaleFactor;
        byte[] pixels = GenerationSupport.Timed(_backend, run.Timings, "decode",
            () => VaeDecoding.DecodeToRgbBytes(Vae, FluxLatentPacking.Unpack(run.Latents, latentHeight, latentWidth))[0]);
        progress?.Report(new GenerationProgress(GenerationPhase.Decode, 1, 1));
        return new GenerationResult(new RgbImage(run.Width, run.Height, pixels), request, run.Steps, run.GuidanceScale, run.Timings, run.Warnings)
        {
            WordScores = run.WordScores,
            PixelsPerToken = SizeMultiple,
            Acceleration = run.Acceleration,
        };
    }

    /// <summary>Everything up to the denoised latents, packed [1, (H/16)·(W/16), in_channels].</summary>
    internal DenoisedLatents Denoise(GenerationRequest request, IProgress<GenerationProgress>? progress, CancellationToken cancel)
    {
        ResolvedGeneration resolved = GenerationRequestValidation.Resolve(request, this, GenerationFieldNames.Engine);
        var (width, height, steps, guidance, acceleration) = resolved;
        float trueCfg = request.TrueCfgScale ?? 1f;
        if (MaxSequenceLength is <= 0 or > PipelineTokenizerCalls.FluxMaxSequenceLength)
            throw new AccelAesException($"max_sequence_length must be between 1 and 512, got {MaxSequenceLength}.");
        var timings = new List<PhaseTiming>();
        var warnings = new List<string>();
        warnings.AddRange(resolved.Notes); // components the settings turned off, settings that override others
        cancel.ThrowIfCancellationRequested();

        if (SchnellNote(request) is { } schnellNote) warnings.Add(schnellNote);
        progress?.Report(new GenerationProgress(GenerationPhase.Encode, 0, 1));
        _parts.BeginEncoding(timings);
        var (positive, negative) = GenerationSupport.Timed(_backend, timings, "encode", () =>
            (Encode(request.Prompt, PromptRole.Positive, warnings), trueCfg > 1f ? Encode(request.NegativePrompt, PromptRole.Negative, warnings) : null));
        progress?.Report(new GenerationProgress(GenerationPhase.Encode, 1, 1));
        cancel.ThrowIfCancellationRequested();
        // AesMask scores the words with the CLIP encoder: while it is still loaded.
        AesMaskWords? words = acceleration is { UsesMask: true }
            ? GenerationSupport.Timed(_backend, timings, "aesmask words", () => TextWeights(request.Prompt, acceleration))
            : null;
        _parts.EndEncoding(timings);

        // prepare_latents: noise in the unpacked layout, 2·⌊size / (2·vae_scale_factor)⌋ latent pixels a side, then packed.
        int gridHeight = height / SizeMultiple, gridWidth = width / SizeMultiple;
        var noiseShape = new Shape(1, _transformerConfig.InChannels / 4, FluxLatentPacking.PatchSize * gridHeight, FluxLatentPacking.PatchSize * gridWidth);
        var inputs = new Dictionary<string, Tensor>
        {
            ["prompt_embeds"] = positive.PromptEmbeds,
            ["pooled_prompt_embeds"] = positive.PooledPromptEmbeds,
            ["latents"] = FluxLatentPacking.Pack(GenerationSupport.InitialNoise(_backend, request.Seed, noiseShape)),
        };
        if (negative is not null)
        {
            inputs["negative_prompt_embeds"] = negative.PromptEmbeds;
            inputs["negative_pooled_prompt_embeds"] = negative.PooledPromptEmbeds;
        }
        // FluxPipeline derives the token grid from pixel sizes at its VAE factor of 8; give it the sizes that name this grid.
        int unit = FluxPipeline.VaeScaleFactor * FluxLatentPacking.PatchSize;
        AcceleratedRunReport? report = null;
        var settings = new DenoiseSettings
        {
            Steps = steps, GuidanceScale = guidance, Scheduler = _scheduler, Height = gridHeight * unit, Width = gridWidth * unit,
            GuidanceMode = request.GuidanceMode,
            Acceleration = acceleration,
            TextWeights = words?.Weights,
            OnAccelerationReport = r => report = r,
        };
        var pipeline = new FluxPipeline(Transformer) { TrueCfgScale = trueCfg };
        Tensor latents = GenerationSupport.Timed(_backend, timings, "denoise", () => pipeline.Denoise(inputs, settings, (i, _) =>
        {
            progress?.Report(new GenerationProgress(GenerationPhase.Denoise, i + 1, steps));
            cancel.ThrowIfCancellationRequested();
        }));
        return new DenoisedLatents(latents, width, height, steps, guidance, timings, warnings) { Acceleration = report, WordScores = words?.Encoders };
    }

    /// <summary>
    /// Says which of FLUX.1-schnell's model-card defaults this run took (the ones the request left unset), so a user
    /// who expected FluxPipeline's 28 steps learns why there were 4; null for other models and when all were set.
    /// </summary>
    private string? SchnellNote(GenerationRequest request)
    {
        if (!IsSchnell) return null;
        var taken = new List<string>();
        if (request.Steps is null) taken.Add($"{Defaults.Steps} steps");
        if (request.GuidanceScale is null) taken.Add($"guidance {Defaults.GuidanceScale:0.#} (the transformer takes no guidance input)");
        if (_maxSequenceLength is null) taken.Add($"max_sequence_length {Defaults.MaxSequenceLength} T5 tokens");
        return taken.Count == 0 ? null
            : $"FLUX.1-schnell model (no guidance embedder, unshifted scheduler): using its model card's {string.Join(", ", taken)} instead of FluxPipeline's defaults.";
    }

    /// <summary>
    /// AesMask's weights over FLUX's text keys (the T5 tokens): the words of the T5 ids, scored against the aesthetic
    /// anchors with the pipeline's own CLIP-L text tower (FLUX's text_encoder is CLIP ViT-L/14).
    /// </summary>
    private AesMaskWords TextWeights(string prompt, AccelerationOptions options)
    {
        var clipTokenizer = _clipTokenizer as ClipTokenizer
            ?? throw new AccelAesException("AesMask scores words with FLUX's CLIP-L, whose tokenizer must be a CLIP tokenizer.");
        _importance ??= new TokenImportance(new ClipPhraseEmbedder(clipTokenizer, ids => Clip.Forward(ids)));
        var t5Call = PipelineTokenizerCalls.Of(PipelineClass, "tokenizer_2").Call;
        if (MaxSequenceLength != PipelineTokenizerCalls.FluxMaxSequenceLength) t5Call = TokenizerCall.PaddedTo(MaxSequenceLength);
        TokenImportanceResult t5 = PromptWeights.ForEncoder(_importance, _t5Tokenizer, _t5Tokenizer.Encode(prompt, t5Call), prompt, WordScoringRule.Of(options));
        return AesMaskWords.From([("tokenizer_2 (T5)", t5)], options.TokenWeighting);
    }

    private FluxPromptEmbeds Encode(string prompt, PromptRole role, List<string> warnings)
    {
        var clipCall = PipelineTokenizerCalls.Of(PipelineClass, "tokenizer");
        var t5Call = PipelineTokenizerCalls.Of(PipelineClass, "tokenizer_2");
        if (MaxSequenceLength != PipelineTokenizerCalls.FluxMaxSequenceLength)
            t5Call = t5Call with { Call = TokenizerCall.PaddedTo(MaxSequenceLength) };
        TextEncoderOutput clip = Clip.Forward(GenerationSupport.Tokenize(_clipTokenizer, prompt, clipCall, role, warnings));
        TextEncoderOutput t5 = T5.Forward(GenerationSupport.Tokenize(_t5Tokenizer, prompt, t5Call, role, warnings));
        return PromptConditioning.Flux(clip, t5);
    }

    /// <summary>The encoders must produce the widths the transformer takes; say which does not, before any work.</summary>
    private void CheckWidths()
    {
        var c = _transformerConfig;
        if (_clipConfig.HiddenSize != c.PooledProjectionDim)
            throw new AccelAesException(
                $"text_encoder's pooler_output has {_clipConfig.HiddenSize} features, but the transformer's pooled_projection_dim is {c.PooledProjectionDim}.");
        if (_t5Config.DModel != c.JointAttentionDim)
            throw new AccelAesException(
                $"text_encoder_2 (T5) has d_model {_t5Config.DModel}, but the transformer's joint_attention_dim is {c.JointAttentionDim}.");
        if (_vaeConfig.LatentChannels * 4 != c.InChannels)
            throw new AccelAesException(
                $"The VAE has {_vaeConfig.LatentChannels} latent channels, packed 2×2 that is {_vaeConfig.LatentChannels * 4} features, " +
                $"but the transformer takes in_channels {c.InChannels}.");
    }
}
