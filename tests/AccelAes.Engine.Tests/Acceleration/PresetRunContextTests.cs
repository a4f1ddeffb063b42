using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Acceleration;

/// <summary>
/// Presets as functions of the run beyond its step count (issue 13, items 1–2): a guidance scale that turns CFG off
/// turns the preset's spatial CFG off, an image too small for the mask's blur turns AesMask off, each with a note; the
/// same conflicts set explicitly are errors naming the knob, before any model loads.
/// </summary>
public class PresetRunContextTests
{
    private static readonly ImageTokenGrid Large = new(64, 64);

    [Fact]
    public void Guidance_at_most_one_turns_the_presets_spatial_cfg_off_with_a_note()
    {
        var on = new AccelerationRequest(AccelerationPreset.AccelAes, []).Resolve(Backbone.Lumina, 30, 4.0, Large);
        Assert.True(on.SpatialCfg);
        Assert.Null(on.PresetNote);
        var off = new AccelerationRequest(AccelerationPreset.AccelAes, []).Resolve(Backbone.Lumina, 30, 1.0, Large);
        Assert.False(off.SpatialCfg);
        Assert.True(off.SkipSparse && off.UsesMask); // the rest of the preset stays
        Assert.Contains("Spatial CFG is off", off.PresetNote);
    }

    [Fact]
    public void Spatial_cfg_set_explicitly_without_cfg_is_an_error_naming_the_knob()
    {
        var request = AccelerationRequest.Parse("accelaes", ["spatial_cfg=on"]);
        var ex = Assert.Throws<AccelAesException>(() => request.Resolve(Backbone.Sd3, 28, 1.0, Large));
        Assert.Contains("spatial_cfg:", ex.Message);
        Assert.Contains("--guidance", ex.Message);
        Assert.True(request.Resolve(Backbone.Sd3, 28, 7.0, Large).SpatialCfg);
    }

    [Theory]
    [InlineData(Backbone.Sd3, 2, 2)]   // SD3 at 32 × 32 pixels: the case (the preset's mask is used by nothing there)
    [InlineData(Backbone.Lumina, 3, 8)]
    [InlineData(Backbone.Sd3, 3, 3)]
    public void A_grid_smaller_than_the_blur_turns_the_presets_mask_off_with_a_note(Backbone backbone, int rows, int cols)
    {
        var o = new AccelerationRequest(AccelerationPreset.AccelAes, []).Resolve(backbone, 28, 5.0, new ImageTokenGrid(rows, cols));
        Assert.False(o.UsesMask || o.SpatialCfg || o.SkipSparse);
        Assert.Contains("AesMask is off: the token grid", o.PresetNote);
        Assert.Equal(2, o.Interval); // StepCache does not need the mask
    }

    [Fact]
    public void The_smallest_grid_the_blur_takes_keeps_the_mask()
    {
        // σ 1 (quantile rule): 7 taps, reflect padding 3 → 4 × 4 tokens; σ 1.5 (sd3_percentile): 11 taps → 6 × 6.
        var o = new AccelerationRequest(AccelerationPreset.AccelAes, []).Resolve(Backbone.Sd3, 28, 5.0, new ImageTokenGrid(4, 4));
        Assert.True(o.UsesMask);
        Assert.Equal(4, o.MinimumMaskGridSide);
        Assert.Null(o.PresetNote);
        Assert.Equal(6, o.With("threshold", "sd3_percentile").MinimumMaskGridSide);
    }

    [Fact]
    public void A_mask_set_explicitly_on_a_grid_too_small_is_an_error_before_any_model_loads()
    {
        var ex = Assert.Throws<AccelAesException>(() =>
            AccelerationRequest.Parse("accelaes", ["mask_step=3"]).Resolve(Backbone.Sd3, 28, 5.0, new ImageTokenGrid(2, 2)));
        Assert.Contains("mask_step:", ex.Message);
        Assert.Contains("2 × 2", ex.Message);
        // A smaller blur fits: the error's own remedy works.
        var fits = AccelerationRequest.Parse("accelaes", ["mask_step=3", "blur_sigma=0.3"]).Resolve(Backbone.Sd3, 28, 5.0, new ImageTokenGrid(2, 2));
        Assert.True(fits.UsesMask);
    }

    [Fact]
    public void Spatial_guidance_note_names_the_steps_the_guidance_scale_still_guides()
    {
        var o = new AccelerationRequest(AccelerationPreset.AccelAes, []).Resolve(Backbone.Lumina, 30, 5.5, Large);
        Assert.Contains("guidance scale 5.5 applies to steps 0–4", o.SpatialGuidanceNote);
        Assert.Null(new AccelerationRequest(AccelerationPreset.AccelAes, []).Resolve(Backbone.Sd3, 28, 5.5, Large).SpatialGuidanceNote);
    }

    [Fact]
    public void Sampling_refuses_a_mask_its_grid_cannot_hold_before_the_first_step()
    {
        // denoise resolves its options without an image size; the sampler knows the grid and checks it up front.
        using var cpu = new CpuBackend();
        var options = AccelerationRequest.Parse("accelaes", ["mask_step=3"]).Resolve(Backbone.Sd3, 12, 5.0);
        var sigmas = new FlowMatchEulerScheduler(new FlowMatchEulerSchedulerConfig()).SetTimesteps(12);
        var never = new NeverCalled();
        var ex = Assert.Throws<AccelAesException>(() => AcceleratedSampling.Run(cpu.Upload(new float[16], new Shape(1, 4, 2, 2)), sigmas, options,
            new AccelerationGeometry(2, 2, 2, 2, 4), never, [1f]));
        Assert.Contains("mask_step:", ex.Message);
        Assert.Equal(0, never.Calls);
    }

    private sealed class NeverCalled : IAcceleratedPredictor
    {
        public int Calls { get; private set; }

        public Tensor Predict(Tensor latents, int step, SigmaSchedule sigmas, SparseForward sparse, Func<GuidanceScaleMap> guidance)
        {
            Calls++;
            throw new InvalidOperationException("no forward should run");
        }
    }
}
