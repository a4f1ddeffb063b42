using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Models.Flux;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Pipelines;

/// <summary>Prompt conditioning of <c>FluxPipeline</c>, already encoded.</summary>
/// <param name="PromptEmbeds">T5 embeddings [B, L, joint_attention_dim].</param>
/// <param name="PooledPromptEmbeds">Pooled CLIP embeddings [B, pooled_projection_dim].</param>
/// <param name="NegativePromptEmbeds">Only for true CFG; same shape as the prompt's.</param>
/// <param name="NegativePooledPromptEmbeds">Only for true CFG; same shape as the prompt's.</param>
public sealed record FluxConditioning(Tensor PromptEmbeds, Tensor PooledPromptEmbeds, Tensor? NegativePromptEmbeds = null,
    Tensor? NegativePooledPromptEmbeds = null);

/// <summary>
/// FluxPipeline's velocity. The transformer gets <c>timestep = t / 1000</c> (fp32 division of the scheduler's
/// timestep; the model multiplies back by 1000, architectures.md §0.4), the distilled guidance scale for every
/// batch item when the model embeds it, text ids of zeros and image ids of the packed grid (one rotary table for
/// the whole run). Optional true CFG (<c>true_cfg_scale</c> &gt; 1) adds a forward on the negative prompt and
/// returns v_neg + s·(v_pos − v_neg); diffusers runs it as a second pass, <see cref="GuidanceMode.Batched"/>
/// stacks [negative, positive] on the batch axis instead (same values, one forward).
/// </summary>
public sealed class FluxDenoiser : IVelocityPredictor, IAcceleratedPredictor, ICachePolicyDenoiser, IDisposable
{
    private readonly FluxTransformer2DModel _model;
    private readonly FluxConditioning _cond;
    private readonly float _guidanceScale, _trueCfgScale;
    private readonly GuidanceMode _mode;
    private readonly FluxRotaryTable _rope;
    private readonly Tensor? _batchedContext, _batchedPooled;
    private readonly StepGraph _graph;

    /// <param name="gridHeight">Packed token rows (latent height / 2).</param>
    /// <param name="gridWidth">Packed token columns (latent width / 2).</param>
    /// <param name="guidanceScale">Embedded (distilled) guidance; ignored by a model without a guidance embedder, as in diffusers.</param>
    /// <param name="trueCfgScale">True classifier-free guidance scale; on when &gt; 1, which needs both negative embeddings.</param>
    public FluxDenoiser(FluxTransformer2DModel model, FluxConditioning conditioning, int gridHeight, int gridWidth,
        float guidanceScale, float trueCfgScale = 1f, GuidanceMode mode = GuidanceMode.Batched)
    {
        _model = model;
        _cond = conditioning;
        _guidanceScale = guidanceScale;
        _trueCfgScale = trueCfgScale;
        _mode = mode;
        IBackend be = conditioning.PromptEmbeds.Backend;
        int textTokens = conditioning.PromptEmbeds.Shape[1];
        _rope = FluxLatentPacking.RotaryTable(model, be, textTokens, gridHeight, gridWidth);
        _graph = new StepGraph(be, "flux step");

        if (!DoTrueCfg) return;
        // diffusers enables true CFG only with both negatives; asking for it without them is an error here,
        // not a silent fallback to plain sampling.
        var (negative, negativePooled) = NegativeConditioning.Require($"true_cfg_scale {trueCfgScale}", "set it to 1",
            conditioning.PromptEmbeds, conditioning.PooledPromptEmbeds, conditioning.NegativePromptEmbeds, conditioning.NegativePooledPromptEmbeds);
        if (mode == GuidanceMode.Batched)
        {
            _batchedContext = be.Concat(0, negative, conditioning.PromptEmbeds);
            _batchedPooled = be.Concat(0, negativePooled, conditioning.PooledPromptEmbeds);
        }
    }

    private bool DoTrueCfg => _trueCfgScale > 1f;

    public Tensor Predict(Tensor latents, int step, SigmaSchedule schedule) => PredictCore(latents, step, schedule, null, null);

    /// <summary>
    /// The accelerated velocity: forwards see <paramref name="sparse"/> (pass 0 holds the positive prompt: batch row 0,
    /// or row B of a batched true-CFG forward [negative, positive]; a two-pass true CFG runs the negative as pass 1,
    /// which has no conditional branch). <paramref name="guidance"/> is asked for after the forwards, as the runtime
    /// requires (on the mask step that builds the mask from the capture). FLUX has no spatial CFG: the distilled
    /// guidance is an input of the model, not a combine, and true CFG keeps its own uniform <c>true_cfg_scale</c>; the
    /// options refuse <c>spatial_cfg</c> for FLUX, and a non-uniform map reaching this denoiser is an error.
    /// </summary>
    public Tensor Predict(Tensor latents, int step, SigmaSchedule sigmas, SparseForward sparse, Func<GuidanceScaleMap> guidance)
        => PredictCore(latents, step, sigmas, sparse, guidance);

    /// <summary>
    /// A caching policy's velocity of step <paramref name="step"/> (TeaCache, FBCache, FORA, TaylorSeer): the embeddings run every
    /// step, <paramref name="policy"/> decides whether the blocks run or its cache is reused. Eager (no step graph: a
    /// dynamic decision reads a scalar back between the embeddings and the blocks). One forward per step, so no true CFG
    /// (the official rules count one transformer call per step, and a second call would share and overwrite the cache).
    /// </summary>
    public Tensor PredictWithCachePolicy(Tensor latents, int step, SigmaSchedule schedule, ICachePolicy policy)
    {
        if (DoTrueCfg)
            throw new AccelAesException($"{policy.Name}: runs one transformer call per step, as its official code; true CFG (true_cfg_scale {_trueCfgScale}) needs two. Set it to 1.");
        int batch = latents.Shape[0];
        Tensor ts = _graph.Scalars(0, schedule.Timesteps[step] / 1000f, batch);
        Tensor? g = _model.Config.GuidanceEmbeds ? _graph.Scalars(1, _guidanceScale, batch) : null;
        FluxEmbeddedStep embedded = _model.Embed(latents, _cond.PromptEmbeds, _cond.PooledPromptEmbeds, ts, g, _rope);
        return policy.Velocity(new FluxSplitForward(_model, embedded, _rope), step);
    }

    private Tensor PredictCore(Tensor latents, int step, SigmaSchedule schedule, SparseForward? sparse, Func<GuidanceScaleMap>? guidance)
    {
        int batch = latents.Shape[0];
        // timestep = t.expand(B).to(latents.dtype) / 1000: an fp32 division, undone by the model's × 1000.
        // It and the guidance live in fixed tensors refilled each step, so a captured step reads this step's values.
        int rows = DoTrueCfg && _mode == GuidanceMode.Batched ? 2 * batch : batch;
        Tensor ts = _graph.Scalars(0, schedule.Timesteps[step] / 1000f, rows);
        Tensor? g = _model.Config.GuidanceEmbeds ? _graph.Scalars(1, _guidanceScale, rows) : null;
        Tensor v;
        if (sparse is null)
            v = _graph.Run(StepGraphKey.Dense(latents), () => Velocity(latents, ts, g, null));
        else if ((!DoTrueCfg || _mode == GuidanceMode.Batched) && StepGraphKey.ForSparse(latents, sparse) is { } key)
            // Accelerated dense and sparse forwards are graphs too (FluxQueryRows uploads its indices once per focus
            // set); the mask capture and cache fills run eagerly (StepGraphKey.ForSparse).
            v = _graph.Run(key, () => Velocity(latents, ts, g, sparse));
        else
            v = Velocity(latents, ts, g, sparse);
        if (guidance is not null) RequireUniform(guidance());
        return v;
    }

    private Tensor Velocity(Tensor latents, Tensor ts, Tensor? g, SparseForward? sparse)
    {
        IBackend be = latents.Backend;
        int batch = latents.Shape[0];
        if (!DoTrueCfg)
        {
            sparse?.BeginForward(0, condBatchIndex: 0);
            return _model.Forward(latents, _cond.PromptEmbeds, _cond.PooledPromptEmbeds, ts, g, _rope, sparse);
        }
        Tensor negative, positive;
        if (_mode == GuidanceMode.Batched)
        {
            // Batch [negative, positive]: the conditional branch starts at row `batch`.
            sparse?.BeginForward(0, condBatchIndex: batch);
            Tensor v = _model.Forward(be.Concat(0, latents, latents), _batchedContext!, _batchedPooled!, ts, g, _rope, sparse);
            (negative, positive) = (be.Slice(v, 0, 0, batch), be.Slice(v, 0, batch, batch));
        }
        else
        {
            sparse?.BeginForward(0, condBatchIndex: 0);
            positive = _model.Forward(latents, _cond.PromptEmbeds, _cond.PooledPromptEmbeds, ts, g, _rope, sparse);
            sparse?.BeginForward(1, condBatchIndex: null);
            negative = _model.Forward(latents, _cond.NegativePromptEmbeds!, _cond.NegativePooledPromptEmbeds!, ts, g, _rope, sparse);
        }
        return be.GuidanceCombine(negative, positive, _trueCfgScale);
    }

    /// <summary>Frees the step graphs and their reserved memory (the pipeline calls this after the loop).</summary>
    public void Dispose() => _graph.Dispose();

    /// <summary>
    /// The step's guidance from the accelerated runtime. Its uniform value is the options' guidance (FLUX: the
    /// distilled scale, already embedded), so it is not applied again; a spatial map has nothing to shape here.
    /// </summary>
    private static void RequireUniform(GuidanceScaleMap map)
    {
        if (!map.IsUniform)
            throw new AccelAesException(
                "Spatial CFG is not available on FLUX: the distilled guidance is a model input, not a combine of two branches, " +
                "and true CFG (true_cfg_scale > 1) uses one uniform scale. Set spatial_cfg off.");
    }
}
