using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Planning;

namespace AccelAes.Engine.Tests.Planning;

public class MemoryPlannerTests
{
    private const long GiB = 1L << 30;

    private static MemoryPlan FluxDev(long? memory, WeightPrecision precision = WeightPrecision.AsStored, int size = 1024) =>
        MemoryPlanner.Plan(new MemoryPlanRequest(ModelArchitectures.FluxDev, PublishedComponents.Of(ModelArchitectures.FluxDev), size, size,
            BatchedCfg: true, SkipSparse: false, SparseFeedForward: true, precision, memory));

    [Fact]
    public void Flux_dev_in_bf16_needs_the_encoders_policy_on_a_32_GiB_card()
    {
        var plan = FluxDev(32 * GiB);
        // The arithmetic: 23.8 GB transformer + 9.5 GB T5 + CLIP + VAE ≈ 33.7 GB, before activations.
        Assert.InRange(plan.TotalWeightBytes, 33.6e9, 33.8e9);
        Assert.True(plan.Policies.Single(p => p.Policy == ResidencyPolicy.None).PeakBytes > 32 * GiB);
        Assert.True(plan.Fits);
        Assert.Equal(ResidencyPolicy.Encoders, plan.Chosen);
        Assert.True(plan.Policy.RuntimeSupports()); // generate --offload encoders runs it
        Assert.Null(plan.RunnableRemedy);
    }

    [Fact]
    public void A_card_smaller_than_the_bf16_transformer_needs_sequential_which_generate_runs()
    {
        // 20 GiB < the 23.8 GB transformer: only streaming its blocks fits, and generate runs it, so no other change is named.
        var plan = FluxDev(20 * GiB);
        Assert.Equal(ResidencyPolicy.Sequential, plan.Chosen);
        Assert.True(plan.Policy.RuntimeSupports());
        Assert.Null(plan.RunnableRemedy);
        Assert.Null(plan.Remedy);
    }

    [Fact]
    public void Flux_dev_with_fp8_weights_fits_a_24_GiB_card_and_an_80_GiB_card_keeps_everything_resident()
    {
        Assert.True(FluxDev(24 * GiB, WeightPrecision.Fp8).Fits);
        Assert.Equal(ResidencyPolicy.None, FluxDev(80 * GiB).Chosen);
    }

    [Fact]
    public void Fp8_halves_the_transformer_but_leaves_the_text_encoders_as_stored()
    {
        var bf16 = FluxDev(null).Weights.ToDictionary(w => w.Component.Name, w => w.Bytes);
        var fp8 = FluxDev(null, WeightPrecision.Fp8).Weights.ToDictionary(w => w.Component.Name, w => w.Bytes);
        Assert.InRange(fp8["transformer"] / (double)bf16["transformer"], 0.5, 0.51);
        Assert.Equal(bf16["text_encoder_2"], fp8["text_encoder_2"]);
    }

    [Fact]
    public void Sequential_holds_two_of_the_largest_block_and_the_rest_of_the_transformer()
    {
        var plan = FluxDev(null);
        var blocks = PublishedComponents.Of(ModelArchitectures.FluxDev).Single(c => c.Blocks is not null).Blocks!;
        long vae = plan.Weights.Single(w => w.Component.Name == "vae").Bytes;
        var sequential = plan.Policies.Single(p => p.Policy == ResidencyPolicy.Sequential);
        Assert.Equal(blocks.Rest.StoredBytes + 2 * blocks.LargestBlockBytes(WeightPrecision.AsStored) + vae + plan.Activations.Denoise, sequential.DenoiseBytes);
    }

    [Fact]
    public void A_run_no_policy_fits_names_a_change_that_makes_it_fit()
    {
        // At 4096² the VAE decoder's activations (16 × those at 1024²) exceed 12 GiB under every policy; a smaller image fits.
        var plan = FluxDev(12 * GiB, size: 4096);
        Assert.False(plan.Fits);
        Assert.NotNull(plan.Remedy);
        Assert.Contains("--width 2048 --height 2048", plan.Remedy);
        Assert.True(FluxDev(12 * GiB, size: 2048).Fits);
    }

    [Fact]
    public void A_larger_image_raises_the_denoise_and_decode_estimates()
    {
        var small = FluxDev(null, size: 512).Activations;
        var large = FluxDev(null, size: 1024).Activations;
        // 4608 vs 1536 tokens (image + 512 text): 3×.
        Assert.Equal(3 * small.DenoiseForward, large.DenoiseForward);
        Assert.Equal(4 * small.Decode, large.Decode);
    }

    [Theory]
    [InlineData("32GiB", 32L << 30)]
    [InlineData("24GB", 24_000_000_000L)]
    [InlineData("80000MiB", 80000L << 20)]
    [InlineData("1.5GiB", 3L << 29)]
    [InlineData("4096", 4096L)]
    public void Sizes_parse_with_decimal_and_binary_units(string text, long bytes) => Assert.Equal(bytes, ByteSize.Parse(text, "--memory"));

    [Theory]
    [InlineData("lots")]
    [InlineData("-3GiB")]
    [InlineData("0")]
    [InlineData("2PiB")]
    [InlineData("9000TB")]
    public void Bad_sizes_name_the_option(string text)
    {
        var e = Assert.Throws<AccelAesException>(() => ByteSize.Parse(text, "--memory"));
        Assert.Contains("--memory", e.Message);
    }
}
