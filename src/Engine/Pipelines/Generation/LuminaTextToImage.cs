using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.AesMask;
using AccelAes.Engine.Acceleration.Runtime;
using System.Diagnostics;
using AccelAes.Engine.Components;
using AccelAes.Engine.Models.Lumina;
using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Models.Vae;
using AccelAes.Engine.Planning;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.Tokenizers;

namespace AccelAes.Engine.Pipelines.Generation;

/// <summary>
/// <c>LuminaPipeline</c> (Lumina-Next-SFT; older repos name it <c>LuminaText2ImgPipeline</c>) from prompt to image,
/// as lumina/pipeline_lumina.py does it (line numbers: the diffusers mirror at 58eb52c):
/// <list type="number">
/// <item>The prompt is lower-cased and stripped (<c>_text_preprocessing</c>; caption cleaning needs bs4 and ftfy,
/// without which diffusers falls back to exactly this, L458–477), tokenized with <c>padding=True,
/// pad_to_multiple_of=8, max_length=256, truncation=True</c> (L218–226), and encoded by Gemma with the mask:
/// <c>hidden_states[-2]</c> (L237–241).</item>
/// <item>With guidance &gt; 1 (L775) the negative prompt (default "") is tokenized as given, not lower-cased,
/// padded or cut to the prompt's length (L320–357), and encoded the same way.</item>
/// <item>Initial noise N(0, 1) [1, in_channels, H/8, W/8] (L597–611, L810), the <see cref="LuminaPipeline"/> loop
/// ([cond, uncond], guidance on 3 of 4 channels, RoPE scaling from the size), then
/// <c>vae.decode(z / scaling_factor)</c> with no shift (L926–927).</item>
/// </list>
/// Defaults: 30 steps, guidance 4.0 (L639–640), size <c>transformer.config.sample_size · 8</c> (L199–204, L737–738);
/// sizes must be multiples of 16 (L401–403). <c>vae_scale_factor</c> is hard-coded to 8 (L196).
/// </summary>
public sealed class LuminaTextToImage : ITextToImagePipeline
{
    private readonly IPromptTokenizer _tokenizer;
    private readonly ComponentResidency _parts;
    private readonly GemmaConfig _gemmaConfig;
    private readonly LuminaNextDiTConfig _transformerConfig;
    private readonly AutoencoderKLConfig _vaeConfig;
    private readonly FlowMatchEulerSchedulerConfig _scheduler;
    private readonly IBackend _backend;
    private TokenImportance? _importance;
    private string? _importanceSource;

    public LuminaTextToImage(ModelFolder folder, IBackend backend, string? variant = null, FlowMatchEulerSchedulerConfig? scheduler = null,
        ResidencyPolicy residency = ResidencyPolicy.None, WeightPrecision weights = WeightPrecision.AsStored)
    {
        var watch = Stopwatch.StartNew();
        _backend = backend;
        _tokenizer = GenerationSupport.LoadTokenizer(folder, "tokenizer");
        _parts = new ComponentResidency(backend, residency, folder)
            .Add("text_encoder", textEncoder: true, () => GenerationSupport.Load<GemmaComponent>(folder, "text_encoder", backend, variant).Model)
            .AddTransformer("transformer", stream => new LuminaPipeline(GenerationSupport.Load<LuminaTransformerComponent>(folder, "transformer", backend, variant, weights, stream).Model))
            .Add("vae", textEncoder: false, () => GenerationSupport.Load<AutoencoderKLComponent>(folder, "vae", backend, variant).Model);
        _parts.LoadResident();
        // The configs the loaded models were built from (ComponentLoader parses the same config.json files).
        _gemmaConfig = GemmaConfig.From(folder.Component("text_encoder").Config);
        _transformerConfig = LuminaNextDiTConfig.From(folder.Component("transformer").Config);
        _vaeConfig = AutoencoderKLConfig.From(folder.Component("vae").Config);
        _scheduler = scheduler ?? PipelineFactory.SchedulerOf(folder, LuminaNextDiTConfig.ClassName).Config;
        CheckWidths();
        LoadTime = watch.Elapsed;
    }

    private GemmaModel Gemma => _parts.Get<GemmaModel>("text_encoder");
    private LuminaPipeline Pipeline => _parts.Get<LuminaPipeline>("transformer");
    private AutoencoderKL Vae => _parts.Get<AutoencoderKL>("vae");

    /// <summary>Which components stay on the backend between phases.</summary>
    public ResidencyPolicy Residency => _parts.Policy;

    public string PipelineClass => "LuminaPipeline";
    public int DefaultSteps => PipelineDefaults.Lumina.Steps;
    public float DefaultGuidanceScale => PipelineDefaults.Lumina.GuidanceScale;
    public int DefaultWidth => _transformerConfig.SampleSize * LuminaPipeline.VaeScaleFactor;
    public int DefaultHeight => DefaultWidth;
    public int SizeMultiple => LuminaPipeline.VaeScaleFactor * 2;
    public ImageSideLimit MaxImageSide => ImageSideLimit.EngineWide;
    public TimeSpan LoadTime { get; }

    public GenerationResult Generate(GenerationRequest request, IProgress<GenerationProgress>? progress = null, CancellationToken cancel = default)
    {
        DenoisedLatents run = Denoise(request, progress, cancel);
        cancel.ThrowIfCancellationRequested();
        byte[] pixels = GenerationSupport.Timed(_backend, run.Timings, "decode", () => VaeDecoding.ToRgbBytes(Vae.Decode(DecoderInput(run.Latents)))[0]);
        progress?.Report(new GenerationProgress(GenerationPhase.Decode, 1, 1));
        return new GenerationResult(new RgbImage(run.Width, run.Height, pixels), request, run.Steps, run.GuidanceScale, run.Timings, run.Warnings)
        {
            WordScores = run.WordScores,
            PixelsPerToken = SizeMultiple,
            Acceleration = run.Acceleration,
        };
    }

    /// <summary>
    /// <c>latents / vae.config.scaling_factor</c>, nothing else: the Lumina pipeline ignores any shift or latent
    /// statistics the VAE config has (VaeDecoding's rule for a bare SDXL config is the same computation).
    /// </summary>
    internal Tensor DecoderInput(Tensor latents) => latents.Backend.Scale(latents, 1f / (float)_vaeConfig.ScalingFactor);

    /// <summary>Everything up to the denoised latents [1, in_channels, H/8, W/8].</summary>
    internal DenoisedLatents Denoise(GenerationRequest request, IProgress<GenerationProgress>? progress, CancellationToken cancel)
    {
        ResolvedGeneration resolved = GenerationRequestValidation.Resolve(request, this, GenerationFieldNames.Engine);
        var (width, height, steps, guidance, acceleration) = resolved;
        bool cfg = guidance > 1f;
        var timings = new List<PhaseTiming>();
        var warnings = new List<string>();
        warnings.AddRange(resolved.Notes); // components the settings turned off, settings that override others
        cancel.ThrowIfCancellationRequested();

        progress?.Report(new GenerationProgress(GenerationPhase.Encode, 0, 1));
        _parts.BeginEncoding(timings);
        var (positive, negative, promptTokens) = GenerationSupport.Timed(_backend, timings, "encode", () => Encode(request, cfg, warnings));
        progress?.Report(new GenerationProgress(GenerationPhase.Encode, 1, 1));
        cancel.ThrowIfCancellationRequested();
        _parts.EndEncoding(timings); // AesMask's CLIP is a separate model (--aesmask-clip), not the pipeline's encoder

        var c = _transformerConfig;
        var inputs = new Dictionary<string, Tensor>
        {
            ["prompt_embeds"] = positive.PromptEmbeds,
            ["prompt_attention_mask"] = positive.PromptAttentionMask,
            ["latents"] = GenerationSupport.InitialNoise(_backend, request.Seed,
                new Shape(1, c.InChannels, height / LuminaPipeline.VaeScaleFactor, width / LuminaPipeline.VaeScaleFactor)),
        };
        if (negative is not null)
        {
            inputs["negative_prompt_embeds"] = negative.PromptEmbeds;
            inputs["negative_prompt_attention_mask"] = negative.PromptAttentionMask;
        }
        AcceleratedRunReport? report = null;
        AesMaskWords? words = acceleration is { UsesMask: true }
            ? GenerationSupport.Timed(_backend, timings, "aesmask words", () => TextWeights(request, acceleration, promptTokens, warnings))
            : null;
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
        return new DenoisedLatents(latents, width, height, steps, guidance, timings, warnings) { Acceleration = report, WordScores = words?.Encoders };
    }

    /// <summary>
    /// AesMask's weights over the caption keys: the words of the Gemma ids the encoder was fed (the lower-cased,
    /// stripped prompt — DESIGN §5 scores the tokens the encoder sees), scored against the aesthetic anchors with a
    /// CLIP ViT-L/14 text tower. Lumina's pipeline has no CLIP, so the request must name one; without it the weights
    /// are zero, the heat map is flat and the mask falls back — unless the weighting is uniform, which scores no words.
    /// </summary>
    private AesMaskWords TextWeights(GenerationRequest request, AccelerationOptions options, TokenizedPrompt prompt, List<string> warnings)
    {
        if (request.AesMaskClip is null)
        {
            if (options.TokenWeighting == TokenWeighting.Uniform) return new AesMaskWords(PromptWeights.Uniform(prompt.InputIds.Length), []);
            warnings.Add("AesMask on Lumina-Next needs a CLIP ViT-L/14 text encoder folder (--aesmask-clip); without one the mask falls back to dense sampling with uniform guidance.");
            return new AesMaskWords(new float[prompt.InputIds.Length], []);
        }
        if (_importance is null || _importanceSource != request.AesMaskClip)
        {
            _importance = new TokenImportance(ClipEmbedderLoader.Load(request.AesMaskClip, _backend));
            _importanceSource = request.AesMaskClip;
        }
        string encoded = PipelineTokenizerCalls.Of(PipelineClass, "tokenizer").Call.Preprocess(request.Prompt);
        TokenImportanceResult scores = PromptWeights.ForEncoder(_importance, _tokenizer, prompt, encoded, WordScoringRule.Of(options));
        return AesMaskWords.From([("tokenizer (Gemma)", scores)], options.TokenWeighting);
    }

    /// <summary><c>encode_prompt</c>: the prompt batch, then (with guidance) the negative batch at the prompt's length.</summary>
    private (LuminaPromptEmbeds Positive, LuminaPromptEmbeds? Negative, TokenizedPrompt PromptTokens) Encode(GenerationRequest request, bool cfg, List<string> warnings)
    {
        PipelineTokenizerCall call = PipelineTokenizerCalls.Of(PipelineClass, "tokenizer");
        LuminaTokens tokens = PipelineTokenization.EncodeLumina(_tokenizer, [request.Prompt], [request.NegativePrompt], cfg);
        TokenizedPrompt prompt = tokens.Conditional[0];
        if (prompt.Truncated)
            warnings.Add($"The prompt is longer than {call.Label} takes: {prompt.DroppedTokenCount} of its tokens were dropped.");
        LuminaPromptEmbeds positive = Embed(prompt);
        if (tokens.Unconditional is not { } unconditional) return (positive, null, prompt);
        TokenizedPrompt negative = unconditional[0];
        if (negative.Truncated)
            warnings.Add($"The negative prompt is longer than the prompt's {prompt.Length} tokens, to which LuminaPipeline pads or cuts it: " +
                         $"{negative.DroppedTokenCount} of its tokens were dropped.");
        return (positive, Embed(negative), prompt);
    }

    private LuminaPromptEmbeds Embed(TokenizedPrompt tokens)
    {
        TokenGrid ids = TokenGrid.FromRows([tokens.InputIds], "input_ids");
        TokenGrid mask = TokenGrid.FromRows([tokens.AttentionMask], "attention_mask");
        return PromptConditioning.Lumina(Gemma.HiddenState(ids, mask, -2), mask);
    }

    /// <summary>The encoder and VAE must produce the widths the transformer takes; say which does not, before any work.</summary>
    private void CheckWidths()
    {
        var c = _transformerConfig;
        if (_gemmaConfig.HiddenSize != c.CrossAttentionDim)
            throw new AccelAesException(
                $"text_encoder (Gemma) has hidden_size {_gemmaConfig.HiddenSize}, but the transformer's cross_attention_dim is {c.CrossAttentionDim}.");
        if (_vaeConfig.LatentChannels != c.InChannels)
            throw new AccelAesException(
                $"The VAE has {_vaeConfig.LatentChannels} latent channels, but the transformer takes in_channels {c.InChannels}.");
        if (GenerationSupport.VaeScaleFactor(_vaeConfig) != LuminaPipeline.VaeScaleFactor)
            throw new AccelAesException(
                $"LuminaPipeline assumes a VAE that scales by {LuminaPipeline.VaeScaleFactor}; this one scales by {GenerationSupport.VaeScaleFactor(_vaeConfig)}.");
    }
}
