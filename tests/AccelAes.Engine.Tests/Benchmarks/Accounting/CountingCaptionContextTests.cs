using AccelAes.Engine.Backends.Counting;
using AccelAes.Engine.Benchmarks;
using AccelAes.Engine.Benchmarks.Accounting;
using AccelAes.Engine.Models.Lumina;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Tests.Benchmarks.Accounting;

/// <summary>
/// Lumina-Next-SFT's caption keys and values once per generation (docs/perf/accounting-after.md, Fusion 14): what moves out of
/// the dense step, by hand, and that `bench --accounting` reports it apart from the step.
/// </summary>
public class CountingCaptionContextTests
{
    // Lumina-Next-SFT at 1024², CFG batch 2: L = 256 Gemma tokens of 2048 features; 8 kv heads of 72 (576 wide); 24 layers.
    private const long Rows = 2 * 256, CaptionDim = 2048, KvWidth = 8 * 72, Layers = 24;

    /// <summary>
    /// Per layer: norm1_context = the fp32 caption converted to bf16 (read 4 B, write 2 B per element) and rmsnorm_bf16 (read the
    /// row and the weight, write the row); to_k and to_v, two GEMMs; norm_k = layernorm_bf16 over the 576-wide keys (weight and
    /// bias read). 5 launches.
    /// </summary>
    private const long NormBytes = Rows * CaptionDim * (4 + 2) + (Rows * CaptionDim * 2 + CaptionDim * 2 + Rows * CaptionDim * 2)
                                   + (Rows * KvWidth * 2 + 2 * KvWidth * 2 + Rows * KvWidth * 2);

    /// <summary>
    /// temb's caption half, once: the masked mean is an attention over the caption converted to bf16 (16 heads of 128) with
    /// zeroed q [2, 1, 16, 1] and k [2, 256, 16, 1] (two memsets), then caption_embedder's LayerNorm over [2, 2048] (weight and
    /// bias read) and its Linear to 1024. 4 launches.
    /// </summary>
    private const long CaptionEmbeddingBytes = Rows * CaptionDim * (4 + 2) + (2 * 16 * 2 + Rows * 16 * 2)
                                               + (2 * CaptionDim * 2 + 2 * CaptionDim * 2 + 2 * CaptionDim * 2);

    [Fact]
    public void The_caption_keys_and_values_are_counted_once_per_generation_and_no_longer_in_the_step()
    {
        var r = AccountingBenchmark.Run(new AccountingRequest(RealConfigs.LuminaNextSft, 1024, 2));
        var g = r.PerGeneration;
        Assert.Equal(Layers * 5 + 4, g.Launches);
        Assert.Equal(Layers * NormBytes + CaptionEmbeddingBytes, g.MemoryBoundBytes);
        Assert.Equal(Layers * 2 * (2.0 * Rows * CaptionDim * KvWidth) + 2.0 * 2 * CaptionDim * 1024, g.GemmFlops);
        // Both GEMMs of a layer read the normed caption and a [576, 2048] weight, and write [512, 576]; caption_embedder's Linear
        // reads [2, 2048], its [1024, 2048] weight and bias, and writes [2, 1024].
        Assert.Equal(Layers * 2 * (Rows * CaptionDim * 2 + KvWidth * CaptionDim * 2 + Rows * KvWidth * 2)
                     + (2 * CaptionDim * 2 + 1024 * CaptionDim * 2 + 1024 * 2 + 2 * 1024 * 2), g.GemmBytes);
        Assert.Equal(49, Assert.Single(g.Classes, c => c.Op == "Linear").Calls);

        // The dense step has no caption norm or pool left: rmsnorm_bf16 and convert_f32_to_bf16 over the caption ran 24 times a
        // step before, and the pooling attention once.
        Assert.DoesNotContain(r.Forward.Classes, c => c.Kernel == "rmsnorm_bf16");
        Assert.DoesNotContain(r.Forward.Classes, c => c.Op == "RmsNorm");
        Assert.DoesNotContain(r.Forward.Classes, c => c.Op == "Attention" && c.Kernel == "convert_f32_to_bf16");
    }

    [Fact]
    public void The_per_call_forward_is_the_prepared_step_plus_the_context()
    {
        using var be = new CountingBackend();
        var config = RealConfigs.LuminaNextSft.Lumina!;
        var model = new LuminaNextDiT2DModel(new WeightReader(new PlaceholderWeightSource(), be), config);
        Tensor x = be.PlaceholderWeight(new Shape(2, config.InChannels, 128, 128), "latents");
        Tensor captions = be.Upload(new float[Rows * CaptionDim], new Shape(2, 256, (int)CaptionDim));
        Tensor mask = be.Upload(Enumerable.Repeat(1f, (int)Rows).ToArray(), new Shape(2, 256));
        Tensor t = be.Upload([0.5f, 0.5f], new Shape(2));
        var scaling = LuminaResolutionScaling.ForPipeline(config, 128, 128, 0.5f);
        var table = model.RotaryTableFor(x, scaling);
        model.Forward(x, t, captions, mask, table, scaling.BaseSequenceLength); // uploads the RoPE rows once

        be.Ledger.Take();
        model.Forward(x, t, captions, mask, table, scaling.BaseSequenceLength);
        var perCall = be.Ledger.Take();
        using var context = model.PrepareCaptions(captions, mask);
        var prepared = be.Ledger.Take();
        model.Forward(x, t, context, table, scaling.BaseSequenceLength);
        var step = be.Ledger.Take();

        Assert.Equal(Layers * 5 + 4, prepared.Launches);
        Assert.Equal(perCall.Launches, step.Launches + prepared.Launches);
        Assert.Equal(perCall.MemoryBoundBytes, step.MemoryBoundBytes + prepared.MemoryBoundBytes);
        Assert.Equal(perCall.GemmFlops, step.GemmFlops + prepared.GemmFlops);
    }

    [Fact]
    public void Sd3_and_flux_have_no_work_per_generation()
    {
        Assert.Empty(AccountingBenchmark.Run(new AccountingRequest(RealConfigs.Sd3Medium, 256, 2)).PerGeneration.Classes);
        Assert.Empty(AccountingBenchmark.Run(new AccountingRequest(RealConfigs.FluxDev, 256, 1)).PerGeneration.Classes);
    }
}
