using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Pipelines.Generation;

namespace AccelAes.Engine.Tests.Generation;

/// <summary>
/// Prompt-to-image on every backbone's tiny pipeline (make-tiny folders: tokenizers, encoders, transformer, VAE,
/// scheduler): size, determinism, sensitivity to seed and prompt, defaults, size rule, progress, cancellation,
/// truncation warnings and missing components.
/// </summary>
public class TextToImageTests(TinyPipelineFolders tiny) : IClassFixture<TinyPipelineFolders>
{
    public static TheoryData<string> Architectures => new(TinyPipelineFolders.Architectures);

    private static GenerationRequest Request(string prompt = "a photo of a cat", ulong seed = 7) => new()
    {
        Prompt = prompt, Seed = seed, Steps = 2, Width = 32, Height = 48,
    };

    [Theory]
    [MemberData(nameof(Architectures))]
    public void An_image_has_the_requested_size_repeats_for_a_seed_and_changes_with_the_seed_and_the_prompt(string arch)
    {
        ITextToImagePipeline pipeline = tiny.Open(arch);
        GenerationResult first = pipeline.Generate(Request());
        Assert.Equal((32, 48), (first.Image.Width, first.Image.Height));
        Assert.Equal(32 * 48 * 3, first.Image.Pixels.Length);
        Assert.Equal(2, first.Steps);
        Assert.Equal(first.Image.Pixels, pipeline.Generate(Request()).Image.Pixels);
        Assert.NotEqual(first.Image.Pixels, pipeline.Generate(Request(seed: 8)).Image.Pixels);
        Assert.NotEqual(first.Image.Pixels, pipeline.Generate(Request(prompt: "a drawing of a dog")).Image.Pixels);
    }

    [Theory]
    [InlineData("sd3", "StableDiffusion3Pipeline", typeof(Sd3TextToImage), 28, 7f, 256)]
    [InlineData("flux", "FluxPipeline", typeof(FluxTextToImage), 28, 3.5f, 1024)]
    [InlineData("flux-schnell", "FluxPipeline", typeof(FluxTextToImage), 4, 0f, 1024)] // the model card's, not FluxPipeline's
    [InlineData("lumina-next", "LuminaPipeline", typeof(LuminaTextToImage), 30, 4f, 128)]
    public void Model_index_picks_the_pipeline_and_its_diffusers_defaults(string arch, string pipelineClass, Type type, int steps,
        float guidance, int size)
    {
        ITextToImagePipeline pipeline = tiny.Open(arch);
        Assert.IsType(type, pipeline);
        Assert.Equal(pipelineClass, pipeline.PipelineClass);
        Assert.Equal(steps, pipeline.DefaultSteps);
        Assert.Equal(guidance, pipeline.DefaultGuidanceScale);
        // FLUX: default_sample_size (128) · vae_scale_factor (8), whatever the transformer; Lumina: sample_size (16) · 8.
        Assert.Equal(size, pipeline.DefaultWidth);
        Assert.Equal(size, pipeline.DefaultHeight);
        Assert.Equal(16, pipeline.SizeMultiple);
    }

    [Fact]
    public void The_deprecated_LuminaText2ImgPipeline_name_opens_the_lumina_pipeline()
    {
        using var dir = new TempDirectory();
        string folder = tiny.Copy("lumina-next", dir);
        string index = Path.Combine(folder, "model_index.json");
        File.WriteAllText(index, File.ReadAllText(index).Replace("\"LuminaPipeline\"", "\"LuminaText2ImgPipeline\""));
        Assert.IsType<LuminaTextToImage>(TextToImage.Open(folder, tiny.Cpu));
        Assert.Contains("LuminaText2ImgPipeline", TextToImage.SupportedPipelines);
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void A_size_that_is_not_a_multiple_of_16_is_refused_naming_the_rule(string arch)
    {
        var ex = Assert.Throws<AccelAesException>(() => tiny.Open(arch).Generate(Request() with { Width = 40 }));
        Assert.Contains("multiples of 16", ex.Message);
        Assert.Contains("40", ex.Message);
    }

    [Theory]
    [InlineData("flux")]
    [InlineData("lumina-next")]
    public void Progress_is_reported_per_phase_in_order(string arch)
    {
        var reports = new List<GenerationProgress>();
        tiny.Open(arch).Generate(Request() with { Steps = 3 }, new ListProgress(reports));
        Assert.Equal(
        [
            new(GenerationPhase.Encode, 0, 1), new(GenerationPhase.Encode, 1, 1),
            new(GenerationPhase.Denoise, 1, 3), new(GenerationPhase.Denoise, 2, 3), new(GenerationPhase.Denoise, 3, 3),
            new(GenerationPhase.Decode, 1, 1),
        ], reports);
    }

    [Theory]
    [InlineData("flux")]
    [InlineData("lumina-next")]
    public void Cancelling_stops_between_denoising_steps(string arch)
    {
        using var cts = new CancellationTokenSource();
        var reports = new List<GenerationProgress>();
        var progress = new ListProgress(reports, p =>
        {
            if (p.Phase == GenerationPhase.Denoise) cts.Cancel();
        });
        Assert.ThrowsAny<OperationCanceledException>(() => tiny.Open(arch).Generate(Request() with { Steps = 5 }, progress, cts.Token));
        Assert.Equal(new GenerationProgress(GenerationPhase.Denoise, 1, 5), reports[^1]);
    }

    [Fact]
    public void A_flux_prompt_longer_than_clip_takes_is_cut_with_a_warning()
    {
        // The tiny CLIP vocabulary is byte-level: 100 letters are 100 tokens, T5 (512) takes them all.
        string longPrompt = string.Join(" ", Enumerable.Repeat("abcdefghi", 10));
        GenerationResult r = tiny.Open("flux").Generate(Request(longPrompt) with { Steps = 1 });
        string warning = Assert.Single(r.Warnings);
        Assert.Contains("tokenizer (CLIP)", warning);
        Assert.Empty(tiny.Open("flux").Generate(Request() with { Steps = 1 }).Warnings);
    }

    [Fact]
    public void Schnell_takes_its_model_cards_defaults_says_so_and_gives_the_transformer_no_guidance()
    {
        var schnell = (FluxTextToImage)tiny.Open("flux-schnell");
        Assert.True(schnell.IsSchnell);
        Assert.False(((FluxTextToImage)tiny.Open("flux")).IsSchnell);
        Assert.Equal(256, schnell.MaxSequenceLength);
        Assert.Equal(512, ((FluxTextToImage)tiny.Open("flux")).MaxSequenceLength);

        var reports = new List<GenerationProgress>();
        var defaults = new GenerationRequest { Prompt = "a photo of a cat", Seed = 7, Width = 32, Height = 32 };
        GenerationResult r = schnell.Generate(defaults, new ListProgress(reports));
        Assert.Equal(4, r.Steps);
        Assert.Equal(0f, r.GuidanceScale);
        Assert.Equal(4, reports.Count(p => p.Phase == GenerationPhase.Denoise));
        string note = Assert.Single(r.Warnings);
        Assert.Contains("4 steps", note);
        Assert.Contains("guidance 0", note);
        Assert.Contains("max_sequence_length 256", note);

        // FluxPipeline gives a transformer without a guidance embedder no guidance input: any guidance scale samples the same.
        GenerationResult explicitSettings = schnell.Generate(defaults with { Steps = 4, GuidanceScale = 3.5f });
        Assert.Equal(r.Image.Pixels, explicitSettings.Image.Pixels);
        Assert.Contains(explicitSettings.Warnings, w => w.Contains("max_sequence_length 256") && !w.Contains("4 steps"));
        Assert.NotEqual(r.Image.Pixels, schnell.Generate(defaults with { Steps = 3 }).Image.Pixels);
    }

    [Fact]
    public void Schnell_pads_t5_to_256_tokens_where_dev_pads_to_512()
    {
        string longPrompt = string.Join(" ", Enumerable.Repeat("zq", SchnellPromptWords));
        var request = Request(longPrompt) with { Steps = 1 };
        Assert.Contains(tiny.Open("flux-schnell").Generate(request).Warnings, w => w.Contains("T5") && w.Contains("dropped"));
        Assert.DoesNotContain(tiny.Open("flux").Generate(request).Warnings, w => w.Contains("T5"));
    }

    /// <summary>Words of "zq" that the tiny T5 tokenizer turns into more than 256 and at most 512 tokens.</summary>
    private const int SchnellPromptWords = 200;

    [Fact]
    public void A_lumina_prompt_longer_than_256_tokens_is_cut_with_a_warning()
    {
        string longPrompt = string.Join(" ", Enumerable.Repeat("zq", 200));
        GenerationResult r = tiny.Open("lumina-next").Generate(Request(longPrompt) with { Steps = 1 });
        Assert.Contains(r.Warnings, w => w.Contains("tokenizer (Gemma)") && w.Contains("dropped"));
    }

    [Theory]
    [InlineData("flux", "vae")]
    [InlineData("flux", "tokenizer_2")]
    [InlineData("flux-schnell", "text_encoder_2")]
    [InlineData("lumina-next", "text_encoder")]
    [InlineData("lumina-next", "tokenizer")]
    public void A_missing_component_is_named(string arch, string component)
    {
        using var dir = new TempDirectory();
        string folder = tiny.Copy(arch, dir);
        Directory.Delete(Path.Combine(folder, component), recursive: true);
        var ex = Assert.ThrowsAny<AccelAesException>(() => TextToImage.Open(folder, tiny.Cpu));
        Assert.Contains($"'{component}'", ex.Message);
    }

    [Fact]
    public void True_cfg_runs_flux_against_the_negative_prompt_and_is_off_by_default()
    {
        var pipeline = tiny.Open("flux");
        byte[] plain = pipeline.Generate(Request()).Image.Pixels;
        // Off by default (as diffusers' true_cfg_scale = 1): the negative prompt changes nothing.
        Assert.Equal(plain, pipeline.Generate(Request() with { NegativePrompt = "blurry" }).Image.Pixels);
        byte[] guided = pipeline.Generate(Request() with { NegativePrompt = "blurry", TrueCfgScale = 4f }).Image.Pixels;
        Assert.NotEqual(plain, guided);
        Assert.NotEqual(guided, pipeline.Generate(Request() with { NegativePrompt = "grainy", TrueCfgScale = 4f }).Image.Pixels);
    }

    [Theory]
    [InlineData("sd3", "mask_step=2", "sparse=true", "spatial_cfg=true")]
    [InlineData("flux", "mask_step=2", "sparse=true")]
    public void Accelerated_generation_skips_steps_builds_the_mask_and_runs_sparse(string arch, params string[] knobs)
    {
        var pipeline = tiny.Open(arch);
        // A grid of at least 4 × 4 tokens: the mask blur's reflect padding needs it.
        var dense = pipeline.Generate(Request() with { Steps = 10, Width = 96, Height = 96 });
        var request = Request() with
        {
            Steps = 10,
            Width = 96,
            Height = 96,
            Acceleration = Engine.Acceleration.AccelerationRequest.Parse("accelaes", ["warmup=2", "std_threshold=0", .. knobs]),
        };
        var fast = pipeline.Generate(request);
        var report = Assert.IsType<Engine.Acceleration.Runtime.AcceleratedRunReport>(fast.Acceleration);
        Assert.True(report.Skipped > 0, "StepCache skipped nothing");
        Assert.True(report.SparseForwards > 0, "no sparse forward ran");
        Assert.NotNull(report.Mask);
        Assert.Equal((dense.Image.Width, dense.Image.Height), (fast.Image.Width, fast.Image.Height));
        Assert.NotEqual(dense.Image.Pixels, fast.Image.Pixels);
        Assert.Equal(fast.Image.Pixels, pipeline.Generate(request).Image.Pixels); // deterministic
        Assert.Null(dense.Acceleration);
    }

    [Theory]
    [InlineData("sd3", "gate=1", "BelowGate")]
    [InlineData("sd3", "words=topk,top_k=1", "TopK")]
    [InlineData("sd3", "words=topk,top_k=3", "TopK")]
    [InlineData("sd3", "weighting=uniform", "Normalised")]
    [InlineData("sd3", "weighting=non_aesthetic", "Normalised")]
    [InlineData("flux", "gate=1", "BelowGate")]
    [InlineData("flux", "weighting=uniform", "Normalised")]
    [InlineData("sd3", "affinity=logits", "Normalised")]
    [InlineData("flux", "affinity=logits", "Normalised")]
    public void Word_scoring_and_affinity_knobs_change_the_heat_map_and_not_the_schedule(string arch, string knobs, string branch)
    {
        // gate −1: every random tiny-CLIP similarity passes, so the baseline takes the min-max branch.
        string[] baseline = ["mask_step=2", "warmup=2", "std_threshold=0", "gate=-1"];
        GenerationResult Run(params string[] extra) => tiny.Open(arch).Generate(Request() with
        {
            Steps = 8, Width = 96, Height = 96,
            Acceleration = Engine.Acceleration.AccelerationRequest.Parse("accelaes", [.. baseline, .. extra]),
        });
        GenerationResult reference = Run(), changed = Run(knobs.Split(','));
        Assert.Equal("Normalised", reference.WordScores![0].Scores.Branch.ToString());
        Assert.Equal(branch, changed.WordScores![0].Scores.Branch.ToString());
        Assert.NotEqual(reference.Acceleration!.Mask!.Heat, changed.Acceleration!.Mask!.Heat);
        Assert.Equal(reference.Acceleration.Schedule.Steps.Select(e => e.Kind), changed.Acceleration.Schedule.Steps.Select(e => e.Kind));
        Assert.Equal(reference.WordScores[0].Scores.Words.Select(w => w.Text), changed.WordScores[0].Scores.Words.Select(w => w.Text));
    }

    [Fact]
    public void Lumina_acceleration_scores_words_with_the_given_clip_and_falls_back_without_one()
    {
        var pipeline = tiny.Open("lumina-next");
        var request = Request() with
        {
            Steps = 8, Width = 96, Height = 96,
            Acceleration = Engine.Acceleration.AccelerationRequest.Parse("accelaes", ["mask_step=2", "warmup=2"]),
        };
        var without = pipeline.Generate(request);
        Assert.Contains(without.Warnings, w => w.Contains("--aesmask-clip"));
        Assert.True(without.Acceleration!.Mask!.Fallback);
        Assert.Equal(0, without.Acceleration.SparseForwards);

        // Any CLIP text tower works for the mechanics; the tiny SD3 pipeline carries one (text_encoder + tokenizer).
        // (std_threshold 0: a random tiny model's heat map may be too flat for the default fallback threshold.)
        var with = pipeline.Generate(request with
        {
            AesMaskClip = tiny.Path("sd3"),
            Acceleration = Engine.Acceleration.AccelerationRequest.Parse("accelaes", ["mask_step=2", "warmup=2", "std_threshold=0"]),
        });
        Assert.DoesNotContain(with.Warnings, w => w.Contains("--aesmask-clip"));
        Assert.False(with.Acceleration!.Mask!.Fallback);
        Assert.True(with.Acceleration.SparseForwards > 0);
        Assert.True(with.Acceleration.Skipped > 0);
    }

    private sealed class ListProgress(List<GenerationProgress> into, Action<GenerationProgress>? then = null) : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress value)
        {
            into.Add(value);
            then?.Invoke(value);
        }
    }
}
