using System.Diagnostics;
using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.AesMask;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Components;
using AccelAes.Engine.Models.Sd3;
using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Models.Vae;
using AccelAes.Engine.Planning;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.Tokenizers;

namespace AccelAes.Engine.Pipelines.Generation;

/// <summary>
/// <c>StableDiffusion3Pipeline</c> from prompt to image: CLIP-L and CLIP-G (77 tokens, penultimate hidden
/// states and projected pooled outputs) and T5 (256 tokens, no mask; zeros when the folder has no
/// text_encoder_3), the SD3 denoising loop with CFG over [negative, positive], then the VAE decode of
/// <c>z / scaling_factor + shift_factor</c>.
/// </summary>
public sealed class Sd3TextToImage : ITextToImagePipeline
{
    private readonly IPromptTokenizer _tokenizer, _tokenizer2;
    private readonly IPromptTokenizer? _tokenizer3;
    private readonly ComponentResidency _parts;
    private readonly bool _hasT5;
    private readonly Sd3TransformerConfig _transformerConfig;
    private readonly FlowMatchEulerSchedulerConfig _scheduler;
    private readonly IBackend _backend;
    private TokenImportance? _importance;

    public Sd3TextToImage(ModelFolder folder, IBackend backend, string? variant = null, FlowMatchEulerSchedulerConfig? scheduler = null,
        ResidencyPolicy residency = ResidencyPolicy.None, WeightPrecision weights = WeightPrecision.AsStored)
    {
        var watch = Stopwatch.StartNew();
        _backend = backend;
        _tokenizer = TokenizerFactory.FromFolder(Path.Combine(folder.Root, "tokenizer"));
        _tokenizer2 = TokenizerFactory.FromFolder(Path.Combine(folder.Root, "tokenizer_2"));
        _parts = new ComponentResidency(backend, residency, folder)
            .Add("text_encoder", textEncoder: true, () => Load<ClipTextComponent>(folder, "text_encoder", backend, variant).WithProjection
                ?? throw new AccelAesException("SD3's text_encoder must be a CLIPTextModelWithProjection."))
            .Add("text_encoder_2", textEncoder: true, () => Load<ClipTextComponent>(folder, "text_encoder_2", backend, variant).WithProjection
                ?? throw new AccelAesException("SD3's text_encoder_2 must be a CLIPTextModelWithProjection."));
        // T5 is optional in SD3 ([null, null] in model_index.json); listed, it must load — a missing folder is an
        // error naming it, never a silent run without T5.
        _hasT5 = folder.HasComponent("text_encoder_3");
        if (_hasT5)
        {
            _parts.Add("text_encoder_3", textEncoder: true, () => Load<T5EncoderComponent>(folder, "text_encoder_3", backend, variant).Model);
            _tokenizer3 = GenerationSupport.LoadTokenizer(folder, "tokenizer_3");
        }
        _parts.AddTransformer("transformer", stream => new Sd3Pipeline(Load<Sd3TransformerComponent>(folder, "transformer", backend, variant, weights, stream).Model))
            .Add("vae", textEncoder: false, () => Load<AutoencoderKLComponent>(folder, "vae", backend, variant).Model);
        _parts.LoadResident();
        _transformerConfig = Sd3TransformerConfig.From(folder.Component("transformer").Config); // what the loader builds the model from
        _scheduler = scheduler ?? PipelineFactory.SchedulerOf(folder, Sd3TransformerConfig.ClassName).Config;
        LoadTime = watch.Elapsed;
    }

    private ClipTextModelWithProjection ClipL => _parts.Get<ClipTextModelWithProjection>("text_encoder");
    private ClipTextModelWithProjection ClipG => _parts.Get<ClipTextModelWithProjection>("text_encoder_2");
    private T5EncoderModel? T5 => _hasT5 ? _parts.Get<T5EncoderModel>("text_encoder_3") : null;
    private Sd3Pipeline Pipeline => _parts.Get<Sd3Pipeline>("transformer");
    private AutoencoderKL Vae => _parts.Get<AutoencoderKL>("vae");

    /// <summary>Which components stay on the backend between phases.</summary>
    public ResidencyPolicy Residency => _parts.Policy;

    public string PipelineClass => "StableDiffusion3Pipeline";
    public int DefaultSteps => PipelineDefaults.Sd3.Steps;
    public float DefaultGuidanceScale => PipelineDefaults.Sd3.GuidanceScale;
    public int DefaultWidth => _transformerConfig.SampleSize * Sd3Pipeline.VaeScaleFactor;
    public int DefaultHeight => DefaultWidth;
    public int SizeMultiple => Sd3Pipeline.VaeScaleFactor * _transformerConfig.PatchSize;
    public ImageSideLimit MaxImageSide
    {
        get
        {
            // The patch embedding crops a pos_embed_max_size² table of learned positions; a larger token grid has none.
            int table = _transformerConfig.PosEmbedMaxSize, pixels = table * SizeMultiple;
            return pixels < ImageSideLimit.EngineWide.Pixels
                ? new ImageSideLimit(pixels, $"the transformer's position table is {table}×{table} tokens (pos_embed_max_size) of {SizeMultiple} pixels")
                : ImageSideLimit.EngineWide;
        }
    }
    public TimeSpan LoadTime { get; }

    public GenerationResult Generate(GenerationRequest request, IProgress<GenerationProgress>? progress = null, CancellationToken cancel = default)
    {
        ResolvedGeneration resolved = GenerationRequestValidation.Resolve(request, this, GenerationFieldNames.Engine);
        var (width, height, steps, guidance, acceleration) = resolved;
        var timings = new List<PhaseTiming>();
        var warnings = new List<string>();
        warnings.AddRange(resolved.Notes); // components the settings turned off, settings that override others
        IBackend be = _backend;

        progress?.Report(new GenerationProgress(GenerationPhase.Encode, 0, 1));
        _parts.BeginEncoding(timings);
        var (positive, negative) = GenerationSupport.Timed(_backend, timings, "encode", () =>
            (Encode(request.Prompt, PromptRole.Positive, warnings), guidance > 1f ? Encode(request.NegativePrompt, PromptRole.Negative, warnings) : null));
        progress?.Report(new GenerationProgress(GenerationPhase.Encode, 1, 1));
        cancel.ThrowIfCancellationRequested();
        // AesMask scores the words with CLIP-L: while it is still loaded.
        AesMaskWords? words = acceleration is { UsesMask: true }
            ? GenerationSupport.Timed(_backend, timings, "aesmask words", () => TextWeights(request.Prompt, acceleration))
            : null;
        _parts.EndEncoding(timings);

        var c = _transformerConfig;
        var inputs = new Dictionary<string, Tensor>
        {
            ["prompt_embeds"] = positive.PromptEmbeds,
            ["pooled_prompt_embeds"] = positive.PooledPromptEmbeds,
            ["latents"] = GenerationSupport.InitialNoise(be, request.Seed,
                new Shape(1, c.InChannels, height / Sd3Pipeline.VaeScaleFactor, width / Sd3Pipeline.VaeScaleFactor)),
        };
        if (negative is not null)
        {
            inputs["negative_prompt_embeds"] = negative.PromptEmbeds;
            inputs["negative_pooled_prompt_embeds"] = negative.PooledPromptEmbeds;
        }
        AcceleratedRunReport? report = null;
        var settings = new DenoiseSettings
        {
            Steps = steps, GuidanceScale = guidance, Scheduler = _scheduler, Height = height, Width = width, GuidanceMode = request.GuidanceMode,
            Acceleration = acceleration,
            TextWeights = words?.Weights,
            OnAccelerationReport = r => report = r,
        };
        Tensor latents = GenerationSupport.Timed(_backend, timings, "denoise", () => Pipeline.Denoise(inputs, settings, (i, _) =>
        {
            progress?.Report(new GenerationProgress(GenerationPhase.Denoise, i + 1, steps));
            cancel.ThrowIfCancellationRequested();
        }));

        byte[] pixels = GenerationSupport.Timed(_backend, timings, "decode", () => VaeDecoding.DecodeToRgbBytes(Vae, latents)[0]);
        progress?.Report(new GenerationProgress(GenerationPhase.Decode, 1, 1));
        return new GenerationResult(new RgbImage(width, height, pixels), request, steps, guidance, timings, warnings)
        {
            Acceleration = report,
            WordScores = words?.Encoders,
            PixelsPerToken = SizeMultiple,
        };
    }

    /// <summary>
    /// AesMask's weights over SD3's text keys: the token importance of the 77 CLIP-L tokens (words scored against the
    /// aesthetic anchors with CLIP-L, the pipeline's own CLIP ViT-L/14 text tower), then the T5 tokens' (zeros when the
    /// pipeline has no T5: its columns are zeros and carry no meaning).
    /// </summary>
    private AesMaskWords TextWeights(string prompt, AccelerationOptions options)
    {
        var clipTokenizer = _tokenizer as ClipTokenizer
            ?? throw new AccelAesException("AesMask scores words with SD3's CLIP-L, whose tokenizer must be a CLIP tokenizer.");
        _importance ??= new TokenImportance(new ClipPhraseEmbedder(clipTokenizer, ids => ClipL.TextModel.Forward(ids)));
        var rule = WordScoringRule.Of(options);
        TokenImportanceResult clip = PromptWeights.ForEncoder(_importance, _tokenizer, _tokenizer.Encode(prompt, TokenizerCall.Sd3Clip), prompt, rule);
        (string?, TokenImportanceResult) t5 = !_hasT5
            ? (null, TokenImportanceResult.Blank(PromptConditioning.Sd3DefaultMaxSequenceLength))
            : ("tokenizer_3 (T5)", PromptWeights.ForEncoder(_importance, _tokenizer3!, _tokenizer3!.Encode(prompt, TokenizerCall.Sd3T5), prompt, rule));
        return AesMaskWords.From([("tokenizer (CLIP-L)", clip), t5], options.TokenWeighting);
    }

    private Sd3PromptEmbeds Encode(string prompt, PromptRole role, List<string> warnings)
    {
        TextEncoderOutput clipL = ClipL.Forward(GenerationSupport.Tokenize(_tokenizer, prompt, TokenizerCall.Sd3Clip, "tokenizer (CLIP-L)", role, warnings));
        TextEncoderOutput clipG = ClipG.Forward(GenerationSupport.Tokenize(_tokenizer2, prompt, TokenizerCall.Sd3Clip, "tokenizer_2 (CLIP-G)", role, warnings));
        TextEncoderOutput? t5 = T5 is not { } t5Model ? null
            : t5Model.Forward(GenerationSupport.Tokenize(_tokenizer3!, prompt, TokenizerCall.Sd3T5, "tokenizer_3 (T5)", role, warnings));
        return PromptConditioning.Sd3(clipL, clipG, t5, _transformerConfig.JointAttentionDim);
    }

    private static T Load<T>(ModelFolder folder, string component, IBackend backend, string? variant,
        WeightPrecision weights = WeightPrecision.AsStored, Backends.Cuda.BlockWeightStream? streamBlocks = null) where T : class, IComponentForward
        => GenerationSupport.Load<T>(folder, component, backend, variant, weights, streamBlocks);
}
