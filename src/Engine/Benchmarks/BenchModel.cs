using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Models.Flux;
using AccelAes.Engine.Models.Lumina;
using AccelAes.Engine.Models.Sd3;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Benchmarks;

/// <summary>
/// One transformer of a <see cref="RealConfig"/> built on a backend, with the inputs its pipeline would feed at a given
/// resolution and batch (random embeddings of the real text lengths), so a benchmark can call
/// <see cref="Forward"/> repeatedly. The forward is exactly the one the pipelines run (same model classes).
/// </summary>
public sealed class BenchModel
{
    private readonly Func<SparseForward?, Tensor> _forward;
    private readonly Func<ISplitForward> _split;
    private Action? _prepareGeneration;

    private BenchModel(RealConfig config, int imageTokens, int batch, Tensor latentShapeProbe, Func<SparseForward?, Tensor> forward,
        Func<ISplitForward> split, Action? prepareGeneration = null)
    {
        _split = split;
        _prepareGeneration = prepareGeneration;
        HasGenerationWork = prepareGeneration is not null;
        Config = config;
        ImageTokens = imageTokens;
        Batch = batch;
        Latents = latentShapeProbe;
        _forward = forward;
    }

    public RealConfig Config { get; }

    /// <summary>Image tokens of the latent grid (the focus set is over these).</summary>
    public int ImageTokens { get; }

    public int Batch { get; }

    /// <summary>The model's latent input (the Euler step of a benchmarked step updates a tensor of this shape).</summary>
    public Tensor Latents { get; }

    /// <summary>One forward (null: dense; otherwise the step kind <paramref name="sparse"/> was begun with).</summary>
    public Tensor Forward(SparseForward? sparse = null)
    {
        PrepareGeneration();
        sparse?.BeginForward(0, null);
        return _forward(sparse);
    }

    /// <summary>Whether the model has work of its own once per generation (<see cref="PrepareGeneration"/>): Lumina.</summary>
    public bool HasGenerationWork { get; }

    /// <summary>
    /// The work a pipeline does once per generation, before its first step (Lumina: every layer's caption keys and values,
    /// <see cref="LuminaNextDiT2DModel.PrepareCaptions"/>); nothing for SD3 and FLUX. Runs on the first call only (<see cref="Build"/>
    /// makes it unless told not to; else the first <see cref="Forward"/> or <see cref="SplitStep"/>), so every step after it —
    /// and any graph captured from them — reads one context that stays alive.
    /// </summary>
    public void PrepareGeneration()
    {
        var prepare = _prepareGeneration;
        _prepareGeneration = null;
        prepare?.Invoke();
    }

    /// <summary>
    /// One step's embeddings run and its blocks pending, as the pipelines hand a step to a caching policy
    /// (<c>PredictWithCachePolicy</c>): the same inputs as <see cref="Forward"/>.
    /// </summary>
    public ISplitForward SplitStep()
    {
        PrepareGeneration();
        return _split();
    }

    /// <summary>Builds <paramref name="config"/>'s transformer from <paramref name="weights"/> on <paramref name="backend"/>.</summary>
    /// <param name="resolution">Image side in pixels; must give a latent grid divisible by the patch size.</param>
    /// <param name="prepareGeneration">Run <see cref="PrepareGeneration"/> now, as a pipeline does before its first step; false
    /// leaves it to the caller (to count or time it apart from the build and the steps).</param>
    public static BenchModel Build(RealConfig config, IWeightSource weights, IBackend backend, int resolution, int batch,
        bool prepareGeneration = true)
    {
        var model = BuildUnprepared(config, weights, backend, resolution, batch);
        if (prepareGeneration) model.PrepareGeneration();
        return model;
    }

    private static BenchModel BuildUnprepared(RealConfig config, IWeightSource weights, IBackend backend, int resolution, int batch)
    {
        int latent = resolution / RealConfig.VaeFactor;
        if (resolution % (RealConfig.VaeFactor * 2) != 0 || latent < 2)
            throw new AccelAesException($"--resolution must be a positive multiple of 16 (latent grid divisible by the patch size 2); got {resolution}.");
        if (batch < 1) throw new AccelAesException($"--batch must be at least 1 (got {batch}).");
        var reader = new WeightReader(weights, backend);
        int text = config.TextTokens, grid = latent / 2, n = grid * grid;
        Tensor F(ulong seed, params int[] shape) => backend.Upload(BenchRandom.Floats(new Shape(shape).ElementCount, 1.0, seed), new Shape(shape));
        float[] Repeat(float v) => Enumerable.Repeat(v, batch).ToArray();

        if (config.Sd3 is { } sd3)
        {
            if (grid > sd3.PosEmbedMaxSize)
                throw new AccelAesException($"{config.Name}: {resolution}² needs a {grid}² position table; the model has {sd3.PosEmbedMaxSize}².");
            var model = new Sd3Transformer2DModel(reader, sd3);
            Tensor x = F(1, batch, sd3.InChannels, latent, latent), ctx = F(2, batch, text, sd3.JointAttentionDim), pooled = F(3, batch, sd3.PooledProjectionDim);
            Tensor t = backend.Upload(Repeat(500f), new Shape(batch));
            return new BenchModel(config, n, batch, x, s => model.Forward(x, ctx, pooled, t, s),
                () => new Sd3SplitForward(model, model.Embed(x, ctx, pooled, t)));
        }
        if (config.Lumina is { } lumina)
        {
            var model = new LuminaNextDiT2DModel(reader, lumina);
            Tensor x = F(1, batch, lumina.InChannels, latent, latent), ctx = F(2, batch, text, lumina.CrossAttentionDim);
            Tensor mask = backend.Upload(Enumerable.Repeat(1f, batch * text).ToArray(), new Shape(batch, text));
            Tensor t = backend.Upload(Repeat(0.5f), new Shape(batch));
            // RoPE scaling and table chosen once, as LuminaDenoiser does per size (the timestep overload reads t back to
            // the host every call, which no sampling step does and no CUDA graph can).
            var scaling = LuminaResolutionScaling.ForPipeline(lumina, latent, latent, 0.5f);
            var table = model.RotaryTableFor(x, scaling);
            // The caption context once per generation, as LuminaDenoiser prepares it before its first step.
            LuminaCaptionContext? captions = null;
            return new BenchModel(config, n, batch, x, s => model.Forward(x, t, captions!, table, scaling.BaseSequenceLength, s),
                () => new LuminaSplitForward(model, model.Embed(x, t, captions!, table, scaling.BaseSequenceLength)),
                () => captions = model.PrepareCaptions(ctx, mask));
        }
        var flux = config.Flux!;
        var fluxModel = new FluxTransformer2DModel(reader, flux);
        Tensor hidden = F(1, batch, n, flux.InChannels), enc = F(2, batch, text, flux.JointAttentionDim), pool = F(3, batch, flux.PooledProjectionDim);
        Tensor ts = backend.Upload(Repeat(0.5f), new Shape(batch));
        Tensor? guidance = flux.GuidanceEmbeds ? backend.Upload(Repeat(3.5f), new Shape(batch)) : null;
        // The rotary table built once, as FluxDenoiser builds it (the ids overload reads the ids back every call).
        var rope = FluxLatentPacking.RotaryTable(fluxModel, backend, text, grid, grid);
        return new BenchModel(config, n, batch, hidden, s => fluxModel.Forward(hidden, enc, pool, ts, guidance, rope, s),
            () => new FluxSplitForward(fluxModel, fluxModel.Embed(hidden, enc, pool, ts, guidance, rope), rope));
    }

    /// <summary>A synthetic focus set: <paramref name="fraction"/> of the image tokens, drawn uniformly (seeded).</summary>
    public int[] SyntheticFocus(double fraction, int seed = 4)
    {
        if (!(fraction > 0 && fraction <= 1)) throw new AccelAesException($"The focus fraction must be in (0, 1]; got {fraction}.");
        var rng = new Random(seed);
        int count = Math.Max(1, (int)Math.Round(fraction * ImageTokens));
        return Enumerable.Range(0, ImageTokens).OrderBy(_ => rng.Next()).Take(count).Order().ToArray();
    }

    /// <summary>The backbone's acceleration options for a preset (the CLI's --accel).</summary>
    public AccelerationOptions Options(AccelerationPreset preset) => AccelerationOptions.ForPreset(preset, Config.Backbone);
}
