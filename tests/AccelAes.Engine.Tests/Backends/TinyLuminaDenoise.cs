using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// The tiny Lumina-Next denoise the CUDA tests compare paths on (graphs, fp8 weights, streamed blocks, SwiGLU knob): one
/// config, one set of CFG inputs (padded caption masks on both branches) and the pipeline's settings, so every such test
/// runs the same thing.
/// </summary>
internal static class TinyLuminaDenoise
{
    public static LuminaNextDiTConfig Config(int layers = 2) => new()
    {
        SampleSize = 16, PatchSize = 2, InChannels = 4, HiddenSize = 32, NumLayers = layers, NumAttentionHeads = 4, NumKvHeads = 2,
        MultipleOf = 16, LearnSigma = true, QkNorm = true, CrossAttentionDim = 12,
    };

    /// <summary>Caption embeddings and masks of both CFG branches and the 8×8 latents, uploaded to <paramref name="gpu"/>.</summary>
    public static Dictionary<string, Tensor> Inputs(IBackend gpu) => new()
    {
        ["prompt_embeds"] = gpu.Upload(TestData.Random(6 * 12, 42), new Shape(1, 6, 12)),
        ["prompt_attention_mask"] = gpu.Upload([1, 1, 1, 1, 1, 0], new Shape(1, 6)),
        ["negative_prompt_embeds"] = gpu.Upload(TestData.Random(6 * 12, 43), new Shape(1, 6, 12)),
        ["negative_prompt_attention_mask"] = gpu.Upload([1, 1, 0, 0, 0, 0], new Shape(1, 6)),
        ["latents"] = gpu.Upload(TestData.Random(4 * 8 * 8, 41, -2f, 2f), new Shape(1, 4, 8, 8)),
    };

    public static DenoiseSettings Settings(int steps) => new() { Steps = steps, GuidanceScale = 4f, Scheduler = new FlowMatchEulerSchedulerConfig() };
}
