using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Loader.Validation;

namespace AccelAes.Engine.Tests.Generation;

/// <summary>
/// The one validation of a generation request (GenerationRequestValidation) that the CLI, the C ABI and the pipelines
/// share: every bound of InputLimits, non-finite scales, the size rules of the pipeline, the caller's names in messages.
/// A stand-in pipeline supplies the properties the checks read, so each rule is tested without loading a model.
/// </summary>
public class GenerationRequestValidationTests
{
    private sealed class StandInPipeline(string pipelineClass, ImageSideLimit maxSide) : ITextToImagePipeline
    {
        public string PipelineClass => pipelineClass;
        public int DefaultSteps => 28;
        public float DefaultGuidanceScale => 7f;
        public int DefaultWidth => 256;
        public int DefaultHeight => 128;
        public int SizeMultiple => 16;
        public ImageSideLimit MaxImageSide => maxSide;
        public TimeSpan LoadTime => TimeSpan.Zero;
        public GenerationResult Generate(GenerationRequest request, IProgress<GenerationProgress>? progress = null, CancellationToken cancel = default)
            => throw new InvalidOperationException("validation tests never generate");
    }

    private static readonly ITextToImagePipeline Sd3 = new StandInPipeline("StableDiffusion3Pipeline", new ImageSideLimit(1536, "a 96×96 position table"));
    private static readonly ITextToImagePipeline Flux = new StandInPipeline("FluxPipeline", ImageSideLimit.EngineWide);

    private static GenerationRequest Request => new() { Prompt = "a cat" };

    private static string Refusal(GenerationRequest request, ITextToImagePipeline pipeline, GenerationFieldNames? names = null)
        => Assert.ThrowsAny<AccelAesException>(() => GenerationRequestValidation.Resolve(request, pipeline, names ?? GenerationFieldNames.Cli)).Message;

    [Fact]
    public void Unset_settings_take_the_pipeline_defaults()
    {
        var r = GenerationRequestValidation.Resolve(Request, Sd3, GenerationFieldNames.Cli);
        Assert.Equal((256, 128, 28, 7f), (r.Width, r.Height, r.Steps, r.GuidanceScale));
        Assert.Null(r.Acceleration);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(InputLimits.MaxSteps + 1)]
    [InlineData(int.MaxValue)]
    public void Steps_outside_1_to_the_limit_are_refused_naming_the_option(int steps)
    {
        string message = Refusal(Request with { Steps = steps }, Sd3);
        Assert.Contains($"--steps is {steps}; it must be between 1 and {InputLimits.MaxSteps}", message);
        Assert.Equal(InputLimits.MaxSteps, GenerationRequestValidation.Resolve(Request with { Steps = InputLimits.MaxSteps }, Sd3, GenerationFieldNames.Cli).Steps);
    }

    [Theory]
    [InlineData(float.NaN, "is NaN")]
    [InlineData(float.PositiveInfinity, "is Infinity")]
    [InlineData(-0.5f, "is -0.5")]
    [InlineData(1e30f, "is 1E+30")]
    public void Guidance_that_is_not_finite_negative_or_absurd_is_refused(float guidance, string said)
    {
        string message = Refusal(Request with { GuidanceScale = guidance }, Sd3);
        Assert.Contains("--guidance " + said, message);
        // The same rule for FLUX's true CFG scale, under its own name.
        Assert.Contains("--true-cfg-scale " + said, Refusal(Request with { TrueCfgScale = guidance }, Flux));
    }

    [Fact]
    public void The_callers_names_appear_in_the_message()
    {
        var names = new GenerationFieldNames("opts.steps", "opts.guidance", "opts.true_cfg", "opts.width", "opts.height");
        Assert.Contains("opts.guidance is NaN", Refusal(Request with { GuidanceScale = float.NaN }, Sd3, names));
        Assert.Contains("opts.width is 0", Refusal(Request with { Width = 0 }, Sd3, names));
        Assert.Contains("opts.true_cfg is a FluxPipeline setting", Refusal(Request with { TrueCfgScale = 2 }, Sd3, names));
    }

    [Theory]
    [InlineData(0, 64, "--width is 0")]
    [InlineData(64, -16, "--height is -16")]
    [InlineData(InputLimits.MaxImageSide + 16, 64, "--width is 8208")]
    [InlineData(40, 64, "multiples of 16; got 40×64")]
    public void Sizes_must_be_positive_multiples_within_the_engine_bound(int width, int height, string said)
        => Assert.Contains(said, Refusal(Request with { Width = width, Height = height }, Flux));

    [Fact]
    public void A_size_beyond_the_models_own_limit_is_refused_with_the_reason_before_any_work()
    {
        string message = Refusal(Request with { Width = 2048, Height = 512 }, Sd3);
        Assert.Contains("2048×512 is larger than this model can generate; the largest side is 1536 pixels (a 96×96 position table)", message);
        Assert.Equal(1536, GenerationRequestValidation.Resolve(Request with { Width = 1536 }, Sd3, GenerationFieldNames.Cli).Width);
    }

    [Fact]
    public void Acceleration_knobs_are_resolved_for_the_runs_steps_and_guidance()
    {
        var request = Request with { Steps = 20, GuidanceScale = 5, Acceleration = AccelerationRequest.Parse("stepcache", ["warmup=3"]) };
        AccelerationOptions options = GenerationRequestValidation.Resolve(request, Sd3, GenerationFieldNames.Cli).Acceleration!;
        Assert.Equal((20, 5.0, 3), (options.Steps, options.GuidanceScale, options.Warmup));
        Assert.Contains("blur_sigma", Refusal(Request with { Acceleration = AccelerationRequest.Parse("accelaes", ["blur_sigma=1e30"]) }, Sd3));
    }
}
