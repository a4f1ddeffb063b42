using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Engine.Planning;

namespace AccelAes.Engine.Tests.Generation;

/// <summary>
/// The encoders residency policy on the CPU backend (where the arithmetic is the all-resident run's, so the images must
/// be equal to the bit), repeated generations of one opened pipeline (what the C ABI host does), AesMask's word scoring
/// (which runs the CLIP encoder after encoding), and the plan-before-loading decision of <see cref="GenerationResidency"/>.
/// </summary>
public class EncoderOffloadTests(TinyPipelineFolders tiny) : IClassFixture<TinyPipelineFolders>
{
    public static TheoryData<string> Architectures => new(TinyPipelineFolders.Architectures);

    private static GenerationRequest Request(ulong seed = 7) => new() { Prompt = "a photo of a cat", Seed = seed, Steps = 2, Width = 32, Height = 48 };

    /// <summary>
    /// Under encoders nothing loads when the pipeline opens, yet a listed component whose folder is missing is still an
    /// error then, naming it — not a failure in the middle of the first generation.
    /// </summary>
    [Theory]
    [MemberData(nameof(Architectures))]
    public void A_missing_component_folder_is_named_when_the_pipeline_opens_under_encoders(string arch)
    {
        using var dir = new TempDirectory();
        string model = tiny.Copy(arch, dir);
        Directory.Delete(System.IO.Path.Combine(model, "vae"), recursive: true);
        var e = Assert.Throws<AccelAesException>(() => TextToImage.Open(model, tiny.Cpu, residency: ResidencyPolicy.Encoders));
        Assert.Contains("model_index.json lists 'vae'", e.Message);
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Each_generation_under_encoders_loads_the_encoders_then_the_transformer_and_equals_the_all_resident_image(string arch)
    {
        var offloaded = TextToImage.Open(tiny.Path(arch), tiny.Cpu, residency: ResidencyPolicy.Encoders);
        var resident = tiny.Open(arch);
        foreach (ulong seed in new ulong[] { 7, 8 }) // the second generation reloads the encoders the first freed
        {
            GenerationResult expected = resident.Generate(Request(seed)), actual = offloaded.Generate(Request(seed));
            Assert.Equal(expected.Image.Pixels, actual.Image.Pixels);
            string[] phases = [.. actual.Timings.Select(t => t.Phase)];
            Assert.True(Array.IndexOf(phases, "load text encoders") < Array.IndexOf(phases, "encode")
                        && Array.IndexOf(phases, "encode") < Array.IndexOf(phases, "load transformer and vae")
                        && Array.IndexOf(phases, "load transformer and vae") < Array.IndexOf(phases, "denoise"),
                $"phases {string.Join(", ", phases)}");
            Assert.DoesNotContain(expected.Timings, t => t.Phase.StartsWith("load", StringComparison.Ordinal));
        }
    }

    [Theory]
    [InlineData("sd3")]
    [InlineData("flux")]
    public void AesMask_scores_words_with_the_clip_encoder_before_it_is_freed_and_the_image_is_unchanged(string arch)
    {
        var request = Request() with
        {
            Steps = 6, Width = 96, Height = 96,
            Acceleration = AccelerationRequest.Parse("accelaes", ["warmup=1", "mask_step=2", "std_threshold=0"]),
        };
        var expected = tiny.Open(arch).Generate(request);
        var actual = TextToImage.Open(tiny.Path(arch), tiny.Cpu, residency: ResidencyPolicy.Encoders).Generate(request);
        Assert.NotNull(actual.WordScores);
        Assert.Equal(expected.Image.Pixels, actual.Image.Pixels);
    }

    [Fact]
    public void The_plan_decides_the_policy_against_the_memory_given_and_refuses_what_fits_nowhere()
    {
        string folder = tiny.Path("flux");
        var noLimit = GenerationResidency.Decide(folder, null, Request(), tiny.Cpu, requested: null, memoryBytes: null);
        Assert.Equal(ResidencyPolicy.None, noLimit.Policy);
        Assert.Null(noLimit.Plan); // the CPU backend is not planned without a typed limit

        var plan = MemoryPlanner.Plan(GenerationResidency.PlanRequest(folder, null, Request(), ByteSize.MaxBytes));
        long none = plan.Policies.Single(p => p.Policy == ResidencyPolicy.None).PeakBytes;
        long encoders = plan.Policies.Single(p => p.Policy == ResidencyPolicy.Encoders).PeakBytes;
        Assert.True(encoders < none);
        Assert.Equal(ResidencyPolicy.Encoders, GenerationResidency.Decide(folder, null, Request(), tiny.Cpu, null, encoders).Policy);
        Assert.Equal(ResidencyPolicy.None, GenerationResidency.Decide(folder, null, Request(), tiny.Cpu, null, none).Policy);
        // The plan sizes the request: a larger image needs more than the small one's encoders peak.
        Assert.Throws<MemoryPlanException>(() =>
            GenerationResidency.Decide(folder, null, Request() with { Width = 1024, Height = 1024 }, tiny.Cpu, null, encoders));

        var refused = Assert.Throws<MemoryPlanException>(() => GenerationResidency.Decide(folder, null, Request(), tiny.Cpu, null, 1L << 20));
        Assert.Contains("under any residency policy", refused.Message);

        var forced = GenerationResidency.Decide(folder, null, Request(), tiny.Cpu, ResidencyPolicy.None, encoders);
        Assert.Equal(ResidencyPolicy.None, forced.Policy); // the user's choice stands, with a warning
        Assert.Contains("--offload encoders fits", forced.Warning);
    }
}
