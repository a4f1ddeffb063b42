using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Models.Flux;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Models;

/// <summary>Very small FLUX transformers and inputs for tests that hold for any weights.</summary>
internal static class FluxTestModels
{
    /// <summary>D = 16 (2 heads × 8), uneven RoPE axes (2, 2, 4), 16 input channels (4 latent channels packed 2×2).</summary>
    public static FluxTransformerConfig Config(bool guidance) => new()
    {
        InChannels = 16, OutChannels = 16, NumLayers = 1, NumSingleLayers = 2, AttentionHeadDim = 8, NumAttentionHeads = 2,
        JointAttentionDim = 12, PooledProjectionDim = 10, GuidanceEmbeds = guidance, AxesDimsRope = [2, 2, 4],
    };

    public static FluxTransformer2DModel Model(CpuBackend cpu, bool guidance = true, int seed = 3)
        => new(new WeightReader(new RandomWeightSource(seed), cpu), Config(guidance));

    /// <summary>Random model inputs for a <paramref name="gridHeight"/>×<paramref name="gridWidth"/> token grid and <paramref name="textTokens"/> text tokens.</summary>
    public sealed record Inputs(float[] Hidden, float[] Context, float[] Pooled, float[] Timestep, float[] Guidance,
        float[] ImgIds, float[] TxtIds, int Batch, int Tokens, int TextTokens)
    {
        public static Inputs Random(int batch, int gridHeight, int gridWidth, int textTokens, int seed) => new(
            TestData.Random(batch * gridHeight * gridWidth * 16, seed),
            TestData.Random(batch * textTokens * 12, seed + 1),
            TestData.Random(batch * 10, seed + 2),
            TestData.Random(batch, seed + 3, 0f, 1f),
            TestData.Random(batch, seed + 4, 1f, 6f),
            FluxLatentPacking.LatentImageIds(gridHeight, gridWidth),
            FluxLatentPacking.TextIds(textTokens),
            batch, gridHeight * gridWidth, textTokens);

        /// <summary>Batch item <paramref name="b"/> alone.</summary>
        public Inputs Item(int b) => this with
        {
            Hidden = Hidden.AsSpan(b * Tokens * 16, Tokens * 16).ToArray(),
            Context = Context.AsSpan(b * TextTokens * 12, TextTokens * 12).ToArray(),
            Pooled = Pooled.AsSpan(b * 10, 10).ToArray(),
            Timestep = [Timestep[b]],
            Guidance = [Guidance[b]],
            Batch = 1,
        };

        public float[] Run(CpuBackend cpu, FluxTransformer2DModel model, bool withGuidance = true) => cpu.Download(model.Forward(
            cpu.Upload(Hidden, new Shape(Batch, Tokens, 16)),
            cpu.Upload(Context, new Shape(Batch, TextTokens, 12)),
            cpu.Upload(Pooled, new Shape(Batch, 10)),
            cpu.Upload(Timestep, new Shape(Batch)),
            cpu.Upload(ImgIds, new Shape(Tokens, 3)),
            cpu.Upload(TxtIds, new Shape(TextTokens, 3)),
            withGuidance ? cpu.Upload(Guidance, new Shape(Batch)) : null));
    }
}
