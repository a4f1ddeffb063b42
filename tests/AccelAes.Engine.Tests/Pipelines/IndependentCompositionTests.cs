using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Components;
using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Models.Vae;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.Tokenizers;

namespace AccelAes.Engine.Tests.Generation;

/// <summary>
/// The text-to-image pipelines against the same run composed here by hand from the pieces, with the tokenizer
/// calls written out as the diffusers pipelines make them (not taken from the engine's table): tokenize → encode →
/// conditioning → seeded noise in the pipeline's layout → its IDenoisePipeline → VAE decode. Latents and pixels
/// must be identical.
/// </summary>
public class IndependentCompositionTests(TinyPipelineFolders tiny) : IClassFixture<TinyPipelineFolders>
{
    private const int Width = 32, Height = 48, Steps = 2;
    private readonly CpuBackend _cpu = tiny.Cpu;

    private T Load<T>(ModelFolder folder, string component) where T : class
        => (T)(object)ComponentLoader.Load(folder.Component(component), _cpu).Forward;

    private static FlowMatchEulerSchedulerConfig Scheduler(string folder)
        => FlowMatchEulerSchedulerConfig.From(JsonConfig.Load(Path.Combine(folder, "scheduler", "scheduler_config.json")));

    private static TokenGrid Ids(TokenizedPrompt t) => TokenGrid.FromRows([t.InputIds]);

    [Theory]
    [InlineData("flux", null, 512)]
    [InlineData("flux-schnell", null, 256)] // FLUX.1-schnell's model card passes max_sequence_length=256
    [InlineData("flux", 3f, 512)]
    public void Flux_generation_is_its_denoise_pipeline_on_hand_assembled_embeddings(string arch, float? trueCfg, int t5Length)
    {
        const string prompt = "A photo of a Cat", negative = "blurry";
        var request = new GenerationRequest
        {
            Prompt = prompt, NegativePrompt = negative, Seed = 11, Steps = Steps, Width = Width, Height = Height, GuidanceScale = 2.5f,
            TrueCfgScale = trueCfg,
        };
        var pipeline = Assert.IsType<FluxTextToImage>(tiny.Open(arch));
        Tensor ours = pipeline.Denoise(request, null, default).Latents;

        string dir = tiny.Path(arch);
        var folder = ModelFolder.Open(dir);
        IPromptTokenizer clipTokenizer = TokenizerFactory.FromFolder(Path.Combine(dir, "tokenizer"));
        IPromptTokenizer t5Tokenizer = TokenizerFactory.FromFolder(Path.Combine(dir, "tokenizer_2"));
        ClipTextModel clip = Load<ClipTextComponent>(folder, "text_encoder").TextModel!;
        T5EncoderModel t5 = Load<T5EncoderComponent>(folder, "text_encoder_2").Model;
        var transformer = Load<FluxTransformerComponent>(folder, "transformer").Model;
        // _get_clip_prompt_embeds: padding="max_length", max_length=77, truncation → pooler_output;
        // _get_t5_prompt_embeds: padding="max_length", max_length=max_sequence_length, truncation → last_hidden_state (no mask).
        (Tensor Embeds, Tensor Pooled) Encode(string text)
        {
            Tensor pooled = clip.Forward(Ids(clipTokenizer.Encode(text, new TokenizerCall { Padding = PaddingStrategy.MaxLength, MaxLength = 77, Truncation = true })))
                .PoolerOutput!;
            Tensor embeds = t5.Forward(Ids(t5Tokenizer.Encode(text, new TokenizerCall { Padding = PaddingStrategy.MaxLength, MaxLength = t5Length, Truncation = true })))
                .LastHiddenState;
            return (embeds, pooled);
        }
        var (embeds, pooledEmbeds) = Encode(prompt);
        Assert.Equal(new Shape(1, t5Length, transformer.Config.JointAttentionDim), embeds.Shape);
        // prepare_latents: randn [1, in_channels / 4, 2·(48 // 16), 2·(32 // 16)], then _pack_latents.
        var noiseShape = new Shape(1, 16, 6, 4);
        Tensor noise = _cpu.Upload(GaussianNoise.Create(noiseShape.ElementCount, 11), noiseShape);
        var inputs = new Dictionary<string, Tensor>
        {
            ["prompt_embeds"] = embeds, ["pooled_prompt_embeds"] = pooledEmbeds, ["latents"] = FluxLatentPacking.Pack(noise),
        };
        if (trueCfg is not null)
        {
            var (negativeEmbeds, negativePooled) = Encode(negative);
            inputs["negative_prompt_embeds"] = negativeEmbeds;
            inputs["negative_pooled_prompt_embeds"] = negativePooled;
        }
        var settings = new DenoiseSettings { Steps = Steps, GuidanceScale = 2.5f, Scheduler = Scheduler(dir), Height = Height, Width = Width };
        Tensor reference = new FluxPipeline(transformer) { TrueCfgScale = trueCfg ?? 1f }.Denoise(inputs, settings);
        Assert.Equal(_cpu.Download(reference), _cpu.Download(ours));

        // Decode: _unpack_latents, then z / 0.3611 + 0.1159 (FLUX's VAE config).
        AutoencoderKL vae = Load<AutoencoderKLComponent>(folder, "vae").Model;
        Assert.Equal((0.3611, 0.1159), (vae.Config.ScalingFactor, vae.Config.ShiftFactor!.Value));
        Tensor z = FluxLatentPacking.Unpack(reference, 6, 4);
        Tensor decoderInput = _cpu.Add(_cpu.Scale(z, 1f / 0.3611f), _cpu.Upload(Enumerable.Repeat(0.1159f, 4).ToArray(), new Shape(4)));
        byte[] expected = VaeDecoding.ToRgbBytes(vae.Decode(decoderInput))[0];
        Assert.Equal(expected, pipeline.Generate(request).Image.Pixels);
    }

    [Theory]
    [InlineData(4f)]
    [InlineData(1f)]
    public void Lumina_generation_is_its_denoise_pipeline_on_hand_assembled_embeddings(float guidance)
    {
        const string prompt = "  A Red CAT on a Mat  ", negative = "Blurry, LOW quality, grainy and dark";
        var request = new GenerationRequest
        {
            Prompt = prompt, NegativePrompt = negative, Seed = 5, Steps = Steps, Width = Width, Height = Height, GuidanceScale = guidance,
        };
        var pipeline = Assert.IsType<LuminaTextToImage>(tiny.Open("lumina-next"));
        Tensor ours = pipeline.Denoise(request, null, default).Latents;

        string dir = tiny.Path("lumina-next");
        var folder = ModelFolder.Open(dir);
        IPromptTokenizer gemmaTokenizer = TokenizerFactory.FromFolder(Path.Combine(dir, "tokenizer"));
        GemmaModel gemma = Load<GemmaComponent>(folder, "text_encoder").Model;
        var transformer = Load<LuminaTransformerComponent>(folder, "transformer").Model;
        // _text_preprocessing: lower().strip(); then pad_to_multiple_of=8, max_length=256, truncation, padding=True.
        TokenizedPrompt positive = gemmaTokenizer.Encode("a red cat on a mat",
            new TokenizerCall { Padding = PaddingStrategy.Longest, PadToMultipleOf = 8, MaxLength = 256, Truncation = true });
        Assert.Equal(0, positive.Length % 8);
        (Tensor Embeds, Tensor Mask) Encode(TokenizedPrompt t)
        {
            TokenGrid mask = TokenGrid.FromRows([t.AttentionMask], "attention_mask");
            return (gemma.HiddenState(Ids(t), mask, -2), _cpu.Upload(Array.ConvertAll(t.AttentionMask, m => (float)m), new Shape(1, t.Length)));
        }
        var (embeds, promptMask) = Encode(positive);
        var noiseShape = new Shape(1, 4, Height / 8, Width / 8);
        var inputs = new Dictionary<string, Tensor>
        {
            ["prompt_embeds"] = embeds, ["prompt_attention_mask"] = promptMask,
            ["latents"] = _cpu.Upload(GaussianNoise.Create(noiseShape.ElementCount, 5), noiseShape),
        };
        if (guidance > 1f)
        {
            // The negative prompt as given, padding="max_length" (or cut) to the prompt's length.
            TokenizedPrompt negativeTokens = gemmaTokenizer.Encode(negative,
                new TokenizerCall { Padding = PaddingStrategy.MaxLength, MaxLength = positive.Length, Truncation = true });
            Assert.True(negativeTokens.Truncated, "the negative prompt is longer than the prompt, so it is cut to its length");
            var (negativeEmbeds, negativeMask) = Encode(negativeTokens);
            inputs["negative_prompt_embeds"] = negativeEmbeds;
            inputs["negative_prompt_attention_mask"] = negativeMask;
        }
        var scheduler = FlowMatchEulerSchedulerConfig.From(JsonConfig.Load(Path.Combine(dir, "scheduler", "scheduler_config.json")));
        var settings = new DenoiseSettings { Steps = Steps, GuidanceScale = guidance, Scheduler = scheduler, Height = Height, Width = Width };
        Tensor reference = new LuminaPipeline(transformer).Denoise(inputs, settings);
        Assert.Equal(_cpu.Download(reference), _cpu.Download(ours));

        // Decode: latents / 0.13025, no shift.
        AutoencoderKL vae = Load<AutoencoderKLComponent>(folder, "vae").Model;
        Assert.Equal(0.13025, vae.Config.ScalingFactor);
        byte[] expected = VaeDecoding.ToRgbBytes(vae.Decode(_cpu.Scale(reference, 1f / 0.13025f)))[0];
        GenerationResult result = pipeline.Generate(request);
        Assert.Equal(expected, result.Image.Pixels);
        Assert.Equal(guidance > 1f, result.Warnings.Any(w => w.Contains("negative prompt")));
    }

    [Fact]
    public void Lumina_lower_cases_and_strips_the_prompt_but_not_the_negative_prompt()
    {
        var pipeline = tiny.Open("lumina-next");
        GenerationRequest Req(string prompt, string negative) => new()
        {
            Prompt = prompt, NegativePrompt = negative, Seed = 2, Steps = 1, Width = 32, Height = 32,
        };
        byte[] lower = pipeline.Generate(Req("a red cat", "blurry")).Image.Pixels;
        Assert.Equal(lower, pipeline.Generate(Req("  A RED Cat \t", "blurry")).Image.Pixels);
        Assert.NotEqual(lower, pipeline.Generate(Req("a red cat", "BLURRY")).Image.Pixels);
        Assert.NotEqual(lower, pipeline.Generate(Req("a red cat", " blurry")).Image.Pixels);
    }
}
