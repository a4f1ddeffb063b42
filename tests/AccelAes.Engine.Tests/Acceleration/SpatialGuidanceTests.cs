using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.AesMask;

namespace AccelAes.Engine.Tests.Acceleration;

public class SpatialGuidanceTests
{
    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void Map_is_the_nearest_upsampled_affine_map(int patch)
    {
        int rows = 5, cols = 7;
        float[] m = TestData.Random(rows * cols, 21, 0f, 1f);
        float[] map = SpatialGuidance.ScaleMap(m, rows, cols, patch, 7.0, 1.0);
        Assert.Equal(rows * patch * cols * patch, map.Length);
        for (int y = 0; y < rows * patch; y++)
            for (int x = 0; x < cols * patch; x++)
                Assert.Equal(1f + m[y / patch * cols + x / patch] * 6f, map[y * cols * patch + x]);
        Assert.Equal(1f, SpatialGuidance.ScaleMap([0f], 1, 1, 1, 7, 1)[0]);
        Assert.Equal(7f, SpatialGuidance.ScaleMap([1f], 1, 1, 1, 7, 1)[0]);
    }

    private static FocusMask SmoothMask(out int rows, out int cols)
    {
        rows = 8;
        cols = 8;
        var heat = new float[64];
        for (int p = 0; p < 64; p++) heat[p] = (p % 8) + (p / 8);
        return MaskFinalisation.Finalise(heat, 8, 8, new MaskFinalisationOptions());
    }

    [Fact]
    public void Uniform_cfg_before_the_mask_step_then_the_map()
    {
        var o = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Lumina);
        var mask = SmoothMask(out int rows, out int cols);
        Assert.False(mask.Fallback);
        for (int step = 0; step < o.Steps; step++)
        {
            var g = SpatialGuidance.ForStep(o, step, step >= 5 ? mask : null, 16, 16);
            if (step < o.MaskStep)
            {
                Assert.True(g.IsUniform);
                Assert.Equal(4f, g.Uniform);
            }
            else
            {
                Assert.False(g.IsUniform);
                Assert.Equal(SpatialGuidance.ScaleMap(mask.Soft, rows, cols, 2, 7, 1), g.Map);
                Assert.Equal(g.Map![17], g.At(1, 1));
            }
        }

        Assert.Throws<InvalidOperationException>(() => SpatialGuidance.ForStep(o, 6, null, 16, 16));
        Assert.Throws<AccelAesException>(() => SpatialGuidance.ForStep(o, 6, mask, 16, 24));
    }

    [Fact]
    public void Fallback_uses_uniform_cfg_or_the_references_s_fg()
    {
        var o = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Lumina);
        var flat = MaskFinalisation.Finalise(Enumerable.Repeat(0.3f, 64).ToArray(), 8, 8, new MaskFinalisationOptions());
        Assert.True(flat.Fallback);
        var engine = SpatialGuidance.ForStep(o, 10, flat, 16, 16);
        Assert.True(engine.IsUniform);
        Assert.Equal(4f, engine.Uniform);
        var reference = SpatialGuidance.ForStep(o with { FallbackGuidance = FallbackGuidance.ReferenceForegroundScale }, 10, flat, 16, 16);
        Assert.Equal(7f, reference.Uniform);
        Assert.All(reference.ToArray(), v => Assert.Equal(7f, v));
    }

    [Fact]
    public void Without_spatial_cfg_guidance_stays_uniform()
    {
        var mask = SmoothMask(out _, out _);
        foreach (var o in new[]
                 {
                     AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Sd3),
                     AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Flux),
                     AccelerationOptions.ForPreset(AccelerationPreset.StepCache, Backbone.Lumina),
                 })
        {
            var g = SpatialGuidance.ForStep(o, 20, mask, 16, 16);
            Assert.True(g.IsUniform);
            Assert.Equal((float)o.GuidanceScale, g.Uniform);
        }
    }

    [Fact]
    public void Masks_from_a_soft_mask_and_everything()
    {
        var m = FocusMask.FromSoft(2, 3, [0.9f, 0.5f, 0.51f, 0f, 1f, 0.2f]);
        Assert.Equal([0, 2, 4], m.FocusIndices);
        Assert.Equal([1, 3, 5], m.BackgroundIndices);
        Assert.Equal(0.5, m.FocusFraction);
        Assert.False(m.Fallback);
        var all = FocusMask.Everything(4, 4);
        Assert.True(all.IsEverything);
        Assert.Equal(16, all.FocusIndices.Length);
        var o = AccelerationOptions.ForPreset(AccelerationPreset.AccelAes, Backbone.Lumina);
        Assert.All(SpatialGuidance.ForStep(o, 9, all, 8, 8).ToArray(), v => Assert.Equal(7f, v));
        Assert.Throws<AccelAesException>(() => FocusMask.FromSoft(1, 2, [0.5f, 1.5f]));
        Assert.Throws<ArgumentException>(() => FocusMask.FromSoft(2, 2, [0.5f]));
    }
}
