using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Models.Sd3;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Pipelines;

/// <summary>Prompt conditioning of <c>StableDiffusion3Pipeline</c>, already encoded.</summary>
/// <param name="PromptEmbeds">[B, L, joint_attention_dim]</param>
/// <param name="PooledPromptEmbeds">[B, pooled_projection_dim]</param>
/// <param name="NegativePromptEmbeds">Required when guidance is on; same shape as the prompt's.</param>
public sealed record Sd3Conditioning(Tensor PromptEmbeds, Tensor PooledPromptEmbeds, Tensor? NegativePromptEmbeds, Tensor? NegativePooledPromptEmbeds);

/// <summary>
/// The SD3 pipeline's velocity: timestep 1000·σ for every batch item, CFG with the batch ordered
/// [negative, positive] and v = v_u + g·(v_c − v_u); guidance is off when g ≤ 1, as in diffusers.
/// </summary>
public sealed class Sd3Denoiser : IVelocityPredictor, IAcceleratedPredictor, ICachePolicyDenoiser, IDisposable
{
    private readonly Sd3Transformer2DModel _model;
    private readonly Sd3Conditioning _cond;
    private readonly float _guidance;
    private readonly GuidanceMode _mode;
    private readonly Tensor? _batchedContext, _batchedPooled;
    private readonly StepGraph _graph;

    public Sd3Denoiser(Sd3Transformer2DModel model, Sd3Conditioning conditioning, float guidanceScale, GuidanceMode mode = GuidanceMode.Batched)
    {
        _model = model;
        _cond = conditioning;
        _guidance = guidanceScale;
        _mode = mode;
        _graph = new StepGraph(conditioning.PromptEmbeds.Backend, "sd3 step");
        if (!DoGuidance) return;
        var (negative, negativePooled) = NegativeConditioning.Require($"Guidance scale {guidanceScale}", "set the guidance to 1",
            conditioning.PromptEmbeds, conditioning.PooledPromptEmbeds, conditioning.NegativePromptEmbeds, conditioning.NegativePooledPromptEmbeds);
        if (mode == GuidanceMode.Batched)
        {
            IBackend be = conditioning.PromptEmbeds.Backend;
            _batchedContext = be.Concat(0, negative, conditioning.PromptEmbeds);
            _batchedPooled = be.Concat(0, negativePooled, conditioning.PooledPromptEmbeds);
        }
    }

    private bool DoGuidance => _guidance > 1f;

    public Tensor Predict(Tensor latents, int step, SigmaSchedule schedule) => PredictCore(latents, step, schedule, null, null);

    /// <summary>
    /// The accelerated velocity: forwards see <paramref name="sparse"/>; CFG uses the step's (possibly spatial) scale,
    /// asked for after the forwards (the mask step is guided by the mask its own forward built).
    /// </summary>
    public Tensor Predict(Tensor latents, int step, SigmaSchedule sigmas, SparseForward sparse, Func<GuidanceScaleMap> guidance)
        => PredictCore(latents, step, sigmas, sparse, guidance);

    private Tensor PredictCore(Tensor latents, int step, SigmaSchedule schedule, SparseForward? sparse, Func<GuidanceScaleMap>? guidance)
    {
        IBackend be = latents.Backend;
        int batch = latents.Shape[0];
        bool batched = DoGuidance && _mode == GuidanceMode.Batched;
        // The timestep lives in a fixed tensor refilled each step, so a captured step reads this step's value.
        Tensor ts = _graph.Scalars(0, schedule.Timesteps[step], batched ? 2 * batch : batch);
        if (sparse is null)
            return _graph.Run(StepGraphKey.Dense(latents), () => Velocity(latents, ts, null, null));
        // Accelerated: the spatial guidance map is uploaded per step (and on the mask step built from the capture's
        // download), so only the forward is a graph, and only where its work is fixed (StepGraphKey.ForSparse).
        if (DoGuidance && !batched)
            return Velocity(latents, ts, sparse, guidance);
        Tensor Forward() => Forwards(latents, ts, sparse);
        Tensor v = StepGraphKey.ForSparse(latents, sparse) is { } key ? _graph.Run(key, Forward) : Forward();
        if (!DoGuidance)
            return v;
        return GuidanceMaps.Combine(be.Slice(v, 0, 0, batch), be.Slice(v, 0, batch, batch), guidance!());
    }

    /// <summary>
    /// A caching policy's velocity of step <paramref name="step"/> (FBCache, FORA): the embeddings run every step and
    /// <paramref name="policy"/> decides what the joint blocks compute. CFG runs as one batched [negative, positive]
    /// forward, so one decision covers both branches (as the official FORA DiT code runs its CFG batch); two-pass CFG
    /// would be two transformer calls per step sharing one cache, and is refused. Eager, like the FLUX policies.
    /// </summary>
    public Tensor PredictWithCachePolicy(Tensor latents, int step, SigmaSchedule schedule, ICachePolicy policy)
    {
        if (DoGuidance && _mode != GuidanceMode.Batched)
            throw new AccelAesException($"{policy.Name}: runs one transformer call per step; two-pass CFG (--cfg-mode TwoPass) needs two. Use --cfg-mode Batched (the same values in one forward).");
        IBackend be = latents.Backend;
        int batch = latents.Shape[0];
        Tensor ts = _graph.Scalars(0, schedule.Timesteps[step], DoGuidance ? 2 * batch : batch);
        Sd3EmbeddedStep embedded = DoGuidance
            ? _model.Embed(be.Concat(0, latents, latents), _batchedContext!, _batchedPooled!, ts)
            : _model.Embed(latents, _cond.PromptEmbeds, _cond.PooledPromptEmbeds, ts);
        Tensor v = policy.Velocity(new Sd3SplitForward(_model, embedded), step);
        if (!DoGuidance) return v;
        return be.GuidanceCombine(be.Slice(v, 0, 0, batch), be.Slice(v, 0, batch, batch), _guidance);
    }

    /// <summary>The model output of the step: one forward, or the batched [negative, positive] forward.</summary>
    private Tensor Forwards(Tensor latents, Tensor ts, SparseForward? sparse)
    {
        IBackend be = latents.Backend;
        int batch = latents.Shape[0];
        if (!DoGuidance)
        {
            sparse?.BeginForward(0, condBatchIndex: 0);
            return _model.Forward(latents, _cond.PromptEmbeds, _cond.PooledPromptEmbeds, ts, sparse);
        }
        // Batch [negative, positive]: the conditional branch starts at row `batch`.
        sparse?.BeginForward(0, condBatchIndex: batch);
        return _model.Forward(be.Concat(0, latents, latents), _batchedContext!, _batchedPooled!, ts, sparse);
    }

    private Tensor Velocity(Tensor latents, Tensor ts, SparseForward? sparse, Func<GuidanceScaleMap>? guidance)
    {
        IBackend be = latents.Backend;
        int batch = latents.Shape[0];
        if (!DoGuidance || _mode == GuidanceMode.Batched)
        {
            Tensor v = Forwards(latents, ts, sparse);
            if (!DoGuidance)
                return v;
            Tensor u = be.Slice(v, 0, 0, batch), c = be.Slice(v, 0, batch, batch);
            return guidance is null ? be.GuidanceCombine(u, c, _guidance) : GuidanceMaps.Combine(u, c, guidance());
        }
        sparse?.BeginForward(0, condBatchIndex: null);
        Tensor vu = _model.Forward(latents, _cond.NegativePromptEmbeds!, _cond.NegativePooledPromptEmbeds!, ts, sparse);
        sparse?.BeginForward(1, condBatchIndex: 0);
        Tensor vc = _model.Forward(latents, _cond.PromptEmbeds, _cond.PooledPromptEmbeds, ts, sparse);
        return guidance is null ? be.GuidanceCombine(vu, vc, _guidance) : GuidanceMaps.Combine(vu, vc, guidance());
    }

    /// <summary>Frees the step graphs and their reserved memory (the pipeline calls this after the loop).</summary>
    public void Dispose() => _graph.Dispose();
}
