using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Models.Lumina;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Pipelines;

/// <summary>Prompt conditioning of <c>LuminaPipeline</c>, already encoded (Gemma <c>hidden_states[-2]</c> and its tokenizer mask).</summary>
/// <param name="PromptEmbeds">[B, L, cross_attention_dim]</param>
/// <param name="PromptAttentionMask">[B, L], 1 = token</param>
/// <param name="NegativePromptEmbeds">Required when guidance is on; same shape as the prompt's (the pipeline pads "" to L).</param>
/// <param name="NegativePromptAttentionMask">Required with the negative embeddings; same shape as the prompt mask.</param>
public sealed record LuminaConditioning(Tensor PromptEmbeds, Tensor PromptAttentionMask, Tensor? NegativePromptEmbeds, Tensor? NegativePromptAttentionMask);

/// <summary>LuminaPipeline call arguments that change the math, with the pipeline's defaults.</summary>
public sealed record LuminaPipelineOptions
{
    /// <summary>
    /// false (default, as diffusers): guidance on latent channels 0..2 only, channel 3 keeps the conditional
    /// prediction ("for exact reproducibility reasons", pipeline_lumina.py). true: the standard CFG on every channel.
    /// </summary>
    public bool GuideAllChannels { get; init; }

    /// <summary><c>scaling_watershed</c>: RoPE uses linear scaling while the model time is below it, NTK scaling after.</summary>
    public double ScalingWatershed { get; init; } = LuminaResolutionScaling.DefaultScalingWatershed;

    /// <summary><c>proportional_attn</c>: self-attention scale √(log N / log base_sequence_length)/√hd.</summary>
    public bool ProportionalAttention { get; init; } = true;
}

/// <summary>
/// The Lumina pipeline's velocity for one step (pipeline_lumina.py, <c>__call__</c> denoising loop):
/// <list type="number">
/// <item>model time = 1 − t/num_train_timesteps in float32 (t = the scheduler's timestep 1000·σ): Lumina's t = 0 is
/// noise (architectures.md pitfall 4); the same for every batch item.</item>
/// <item>RoPE factors from that time and the image size (<see cref="LuminaResolutionScaling.ForPipeline"/>).</item>
/// <item>CFG batch <b>[cond, uncond]</b> (SD3's is the reverse); out = transformer(...)[:, :in_channels] (the first
/// half of the learn_sigma channels).</item>
/// <item>Guidance u + g·(c − u) on channels 0..2 only; channel 3 = the conditional prediction (pitfall 5), unless
/// <see cref="LuminaPipelineOptions.GuideAllChannels"/>. Off when g ≤ 1.</item>
/// <item>v = −out: the model predicts the image-ward direction, the flow-matching Euler step wants noise-ward.</item>
/// </list>
/// With learn_sigma false diffusers' <c>chunk(2, dim=1)[0]</c> would keep only half the latent channels and its Euler
/// step fails on the shape; the engine then uses all in_channels output channels.
/// </summary>
public sealed class LuminaDenoiser : IVelocityPredictor, IAcceleratedPredictor, ICachePolicyDenoiser, IDisposable
{
    /// <summary>Channels LuminaPipeline guides (its <c>noise_pred[:, :3]</c>).</summary>
    public const int PipelineGuidedChannels = 3;

    private readonly LuminaNextDiT2DModel _model;
    private readonly float _guidance;
    private readonly GuidanceMode _mode;
    private readonly LuminaPipelineOptions _options;
    private readonly int _numTrainTimesteps;
    // What every step reads from the caption alone (issue 16: every layer's attn2 keys and values, temb's caption half),
    // computed once for this generation — before any step, so before any graph capture, or layer by layer in the first step
    // where no step is captured — read by every step, disposed after the step graphs: the batched [cond, uncond] context
    // under batched CFG, else the prompt's; two-pass CFG's negative prompt has its own.
    private readonly LuminaCaptionContext _captions;
    private readonly LuminaCaptionContext? _negativeCaptions;
    private (LuminaResolutionScaling Scaling, int Height, int Width, LuminaRotaryTable Table)? _lastTable;
    private readonly StepGraph _graph;

    public LuminaDenoiser(LuminaNextDiT2DModel model, LuminaConditioning conditioning, float guidanceScale, int numTrainTimesteps,
        LuminaPipelineOptions? options = null, GuidanceMode mode = GuidanceMode.Batched)
    {
        _model = model;
        _guidance = guidanceScale;
        _mode = mode;
        _options = options ?? new LuminaPipelineOptions();
        _numTrainTimesteps = numTrainTimesteps;
        if (DoGuidance) CheckNegative(conditioning, guidanceScale);
        IBackend be = conditioning.PromptEmbeds.Backend;
        // A graph-capable backend with graphs off captures no step (it streams block weights under --offload sequential, or
        // graphs were turned off): there each layer's entry is computed inside the first step, where a streamed block is
        // uploaded anyway, instead of streaming every block once more before it.
        bool deferred = be is IGraphCapableBackend { GraphsEnabled: false };
        if (DoGuidance && mode == GuidanceMode.Batched)
        {
            // [cond, uncond]: pipeline_lumina.py concatenates the prompt first.
            _captions = model.PrepareCaptions(be.Concat(0, conditioning.PromptEmbeds, conditioning.NegativePromptEmbeds!),
                be.Concat(0, conditioning.PromptAttentionMask, conditioning.NegativePromptAttentionMask!), deferred);
        }
        else
        {
            _captions = model.PrepareCaptions(conditioning.PromptEmbeds, conditioning.PromptAttentionMask, deferred);
            if (DoGuidance)
                _negativeCaptions = model.PrepareCaptions(conditioning.NegativePromptEmbeds!, conditioning.NegativePromptAttentionMask!, deferred);
        }
        _graph = new StepGraph(conditioning.PromptEmbeds.Backend, "lumina step");
    }

    private static void CheckNegative(LuminaConditioning conditioning, float guidanceScale)
    {
        if (conditioning.NegativePromptEmbeds is null || conditioning.NegativePromptAttentionMask is null)
            throw new AccelAesException(
                $"Guidance scale {guidanceScale} needs negative_prompt_embeds and negative_prompt_attention_mask (the embeddings of \"\" padded to the prompt's length; set the guidance to 1 to sample without them).");
        if (conditioning.NegativePromptEmbeds.Shape != conditioning.PromptEmbeds.Shape)
            throw new AccelAesException(
                $"negative_prompt_embeds {conditioning.NegativePromptEmbeds.Shape} must have the shape of prompt_embeds {conditioning.PromptEmbeds.Shape}.");
        if (conditioning.NegativePromptAttentionMask.Shape != conditioning.PromptAttentionMask.Shape)
            throw new AccelAesException(
                $"negative_prompt_attention_mask {conditioning.NegativePromptAttentionMask.Shape} must have the shape of prompt_attention_mask {conditioning.PromptAttentionMask.Shape}.");
    }

    private bool DoGuidance => _guidance > 1f;

    /// <summary>The model time the pipeline passes for scheduler timestep <paramref name="t"/>: float32 1 − t/T.</summary>
    public static float ModelTimestep(float t, int numTrainTimesteps) => 1f - t / numTrainTimesteps;

    public Tensor Predict(Tensor latents, int step, SigmaSchedule schedule) => PredictCore(latents, step, schedule, null, null);

    /// <summary>
    /// The accelerated velocity (<see cref="IAcceleratedPredictor"/>): the forwards see <paramref name="sparse"/> —
    /// batched [cond, uncond] is one forward whose conditional branch is batch row 0; two-pass runs the conditional
    /// forward as pass 0 (row 0) and the unconditional one as pass 1 (no conditional branch), so each keeps its own
    /// caches. The step's scale, uniform or a [latent H, latent W] map, is asked for after the forwards (the mask step
    /// is guided by the mask its own forward built) and applied where the pipeline guides: channels 0..2, channel 3
    /// keeping the conditional prediction unless <see cref="LuminaPipelineOptions.GuideAllChannels"/>; then the sign flip.
    /// </summary>
    public Tensor Predict(Tensor latents, int step, SigmaSchedule sigmas, SparseForward sparse, Func<GuidanceScaleMap> guidance)
        => PredictCore(latents, step, sigmas, sparse, guidance);

    private Tensor PredictCore(Tensor latents, int step, SigmaSchedule schedule, SparseForward? sparse, Func<GuidanceScaleMap>? guidance)
    {
        int batch = latents.Shape[0];
        float modelTime = ModelTimestep(schedule.Timesteps[step], _numTrainTimesteps);
        var (scaling, table) = RotaryFor(latents, modelTime);
        bool batched = DoGuidance && _mode == GuidanceMode.Batched;
        // The model time lives in a fixed tensor refilled each step, so a captured step reads this step's value. The
        // RoPE table (and its scaling) can change at the watershed: it is part of the graph key.
        Tensor timestep = _graph.Scalars(0, modelTime, batched ? 2 * batch : batch);
        if (sparse is null)
            return _graph.Run(StepGraphKey.Dense(latents, (table, scaling)), () => Velocity(latents, timestep, table, scaling, null, null));
        // Accelerated: the spatial guidance map is uploaded per step (and built from the capture's download on the mask
        // step), so only the forward is a graph, and only where its work is fixed (StepGraphKey.ForSparse).
        if (DoGuidance && !batched)
            return Velocity(latents, timestep, table, scaling, sparse, guidance);
        Tensor Forward() => Forwards(latents, timestep, table, scaling, sparse);
        Tensor output = StepGraphKey.ForSparse(latents, sparse, (table, scaling)) is { } key ? _graph.Run(key, Forward) : Forward();
        return Guide(latents, output, guidance);
    }

    /// <summary>
    /// A caching policy's velocity of step <paramref name="step"/> (FBCache, FORA, TaylorSeer): the embeddings run every
    /// step and <paramref name="policy"/> decides what the layers compute. CFG runs as one batched [cond, uncond] forward,
    /// so one decision covers both branches; two-pass CFG would be two transformer calls per step sharing one cache,
    /// and is refused. The output is guided and sign-flipped as the dense step's. Eager, like the other backbones.
    /// </summary>
    public Tensor PredictWithCachePolicy(Tensor latents, int step, SigmaSchedule schedule, ICachePolicy policy)
    {
        if (DoGuidance && _mode != GuidanceMode.Batched)
            throw new AccelAesException($"{policy.Name}: runs one transformer call per step; two-pass CFG (--cfg-mode TwoPass) needs two. Use --cfg-mode Batched (the same values in one forward).");
        IBackend be = latents.Backend;
        int batch = latents.Shape[0];
        float modelTime = ModelTimestep(schedule.Timesteps[step], _numTrainTimesteps);
        var (scaling, table) = RotaryFor(latents, modelTime);
        Tensor timestep = _graph.Scalars(0, modelTime, DoGuidance ? 2 * batch : batch);
        LuminaEmbeddedStep embedded = _model.Embed(DoGuidance ? be.Concat(0, latents, latents) : latents, timestep, _captions, table,
            scaling.BaseSequenceLength);
        return Guide(latents, policy.Velocity(new LuminaSplitForward(_model, embedded), step), null);
    }

    /// <summary>The model output of the step: one forward, or the batched [cond, uncond] forward.</summary>
    private Tensor Forwards(Tensor latents, Tensor timestep, LuminaRotaryTable table, LuminaResolutionScaling scaling, SparseForward? sparse)
    {
        IBackend be = latents.Backend;
        sparse?.BeginForward(0, condBatchIndex: 0); // [cond, uncond]: the conditional rows come first
        return _model.Forward(DoGuidance ? be.Concat(0, latents, latents) : latents, timestep, _captions, table, scaling.BaseSequenceLength,
            sparse);
    }

    private Tensor Velocity(Tensor latents, Tensor timestep, LuminaRotaryTable table, LuminaResolutionScaling scaling, SparseForward? sparse,
        Func<GuidanceScaleMap>? guidance)
    {
        if (!DoGuidance || _mode == GuidanceMode.Batched)
            return Guide(latents, Forwards(latents, timestep, table, scaling, sparse), guidance);
        sparse?.BeginForward(0, condBatchIndex: 0);
        Tensor cond = _model.Forward(latents, timestep, _captions, table, scaling.BaseSequenceLength, sparse);
        sparse?.BeginForward(1, condBatchIndex: null);
        Tensor uncond = _model.Forward(latents, timestep, _negativeCaptions!, table, scaling.BaseSequenceLength, sparse);
        return Combine(latents, cond, uncond, guidance);
    }

    /// <summary>The velocity from the model output: the first in_channels channels, guided (batched [cond, uncond]), sign-flipped.</summary>
    private Tensor Guide(Tensor latents, Tensor output, Func<GuidanceScaleMap>? guidance)
    {
        IBackend be = latents.Backend;
        int batch = latents.Shape[0];
        if (!DoGuidance)
            return be.Scale(Velocity(output, latents.Shape[1]), -1f);
        return Combine(latents, be.Slice(output, 0, 0, batch), be.Slice(output, 0, batch, batch), guidance);
    }

    private Tensor Combine(Tensor latents, Tensor cond, Tensor uncond, Func<GuidanceScaleMap>? guidance)
    {
        IBackend be = latents.Backend;
        int channels = latents.Shape[1];
        Tensor vc = Velocity(cond, channels), vu = Velocity(uncond, channels);
        int guided = _options.GuideAllChannels ? channels : Math.Min(PipelineGuidedChannels, channels);
        Tensor gu = be.Slice(vu, 1, 0, guided), gc = be.Slice(vc, 1, 0, guided);
        Tensor v = guidance is null ? be.GuidanceCombine(gu, gc, _guidance) : GuidanceMaps.Combine(gu, gc, guidance());
        if (guided < channels) v = be.Concat(1, v, be.Slice(vc, 1, guided, channels - guided));
        return be.Scale(v, -1f);
    }

    /// <summary>Frees the step graphs and their reserved memory, then the caption context they read (the pipeline calls this after the loop).</summary>
    public void Dispose()
    {
        _graph.Dispose();
        _captions.Dispose();
        _negativeCaptions?.Dispose();
    }

    /// <summary>The first in_channels output channels: <c>noise_pred.chunk(2, dim=1)[0]</c> with learn_sigma.</summary>
    private static Tensor Velocity(Tensor output, int channels)
        => output.Shape[1] == channels ? output : output.Backend.Slice(output, 1, 0, channels);

    /// <summary>The step's RoPE table, rebuilt only when the factors change (they do not within a normal run).</summary>
    private (LuminaResolutionScaling, LuminaRotaryTable) RotaryFor(Tensor latents, float modelTime)
    {
        var scaling = LuminaResolutionScaling.ForPipeline(_model.Config, latents.Shape[2], latents.Shape[3], modelTime,
            _options.ScalingWatershed, _options.ProportionalAttention);
        int height = latents.Shape[2], width = latents.Shape[3];
        if (_lastTable is not { } last || last.Scaling != scaling || last.Height != height || last.Width != width)
            _lastTable = (scaling, height, width, _model.RotaryTableFor(latents, scaling));
        return (scaling, _lastTable.Value.Table);
    }
}
