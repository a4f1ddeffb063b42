using System.Globalization;
using AccelAes.Engine.Acceleration.AesMask;
using AccelAes.Engine.Acceleration.Ras;
using AccelAes.Loader.Validation;

namespace AccelAes.Engine.Acceleration;

/// <summary>The diffusion transformers AccelAes knows defaults and FLOP counts for.</summary>
public enum Backbone
{
    /// <summary>Lumina-Next-SFT (cross-attention to Gemma-2B text states, CFG on [cond, uncond]).</summary>
    Lumina,

    /// <summary>SD3 / SD3.5 (MMDiT joint attention, CFG on [uncond, cond]).</summary>
    Sd3,

    /// <summary>FLUX.1 (MMDiT double + single stream blocks, guidance-distilled: one pass, no CFG).</summary>
    Flux,
}

/// <summary>Named starting points for <see cref="AccelerationOptions"/>.</summary>
public enum AccelerationPreset
{
    /// <summary>Dense sampling: every step a full forward, uniform guidance.</summary>
    None,

    /// <summary>StepCache only: 2 warmup steps, then every other step extrapolated (the paper's "StepCache only").</summary>
    StepCache,

    /// <summary>The paper's AccelAes defaults for the backbone (AesMask, SkipSparse, spatial CFG, StepCache).</summary>
    AccelAes,

    /// <summary>
    /// TeaCache (the official <c>teacache_forward</c> rule): reuse the transformer's cached residual while the rescaled
    /// relative L1 change of block 0's modulated input, accumulated, stays below <c>rel_l1_thresh</c>. FLUX, SD3 and
    /// Lumina-Next: official coefficients for FLUX and Lumina-Next; SD3's are fitted here (see <see cref="TeaCache.TeaCacheRescale.Sd3"/>).
    /// </summary>
    TeaCache,

    /// <summary>
    /// First-block cache (ParaAttention's FBCache): every step runs block 0; while its residual differs from the last
    /// computed step's by less than <c>residual_diff_threshold</c> (relative L1), the remaining blocks' cached residual
    /// is reused. FLUX, SD3 and Lumina-Next.
    /// </summary>
    FbCache,

    /// <summary>
    /// FORA: every <c>interval</c>-th step (counted from the last) computes every block and caches each block's
    /// attention and MLP outputs; the steps between reuse them through their own gates. FLUX, SD3 and Lumina-Next.
    /// </summary>
    Fora,

    /// <summary>
    /// TaylorSeer: the first <c>warmup</c> steps and every <c>interval</c>-th step after them compute every block and
    /// update the Taylor factors of each block's attention and MLP outputs; the steps between forecast them
    /// (order <c>max_order</c>) and add the forecast through their own gates. FLUX, SD3 and Lumina-Next.
    /// </summary>
    TaylorSeer,

    /// <summary>
    /// Δ-DiT: every <c>interval</c>-th step runs every block; the steps between stand in for <c>cached_blocks</c> blocks
    /// by their deviation (output − input) from the last such step, added to this step's input: the rear blocks before
    /// <c>boundary_step</c>, the front blocks from it on. FLUX, SD3 and Lumina-Next.
    /// </summary>
    DeltaDit,

    /// <summary>
    /// RAS (region-adaptive sampling): after each step the image tokens are ranked by that step's update; the next step
    /// runs every block on the top <c>sample_ratio</c> of them only (keys and values of the others from cache) and the
    /// others keep the previous step's output. SD3 and Lumina-Next (the authors' published settings); not FLUX.
    /// </summary>
    Ras,
}

/// <summary>What decides, in AccelAes's sampling loop, which steps skip the transformer body (knob <c>temporal</c>).</summary>
public enum TemporalRule
{
    /// <summary>StepCache: a fixed stride (<c>warmup</c>, <c>interval</c>); skipped steps extrapolate the velocity.</summary>
    StepCache,

    /// <summary>
    /// TeaCache's adaptive rule (<c>rel_l1_thresh</c>, <c>coefficients</c>): a step whose accumulated rescaled change of
    /// block 0's modulated input stays below the threshold reuses the cached block-stack residual of the last computed
    /// forward; the spatial path (mask, SkipSparse, spatial CFG) is unchanged.
    /// </summary>
    TeaCache,
}

/// <summary>Which rules turn the options into a step schedule.</summary>
public enum ScheduleStyle
{
    /// <summary>
    /// The engine's rules (DESIGN §5): warmup steps full; the capture step and (with SkipSparse) the cache-fill
    /// step after it always computed; from the warmup on, computed steps are <c>interval</c> apart and the
    /// others are skipped, starting with a skip; never a skip before two computed steps exist.
    /// </summary>
    Engine,

    /// <summary>
    /// The reference code's control flow (accelaes-reference-code.md §2.2, §4.2): with a mask step M, skip
    /// iff <c>s = i − (M+1) ≥ 2</c> and <c>s % interval == 0</c>; without one, skip iff <c>i ≥ warmup</c> and
    /// <c>(i − warmup) % interval == 0</c>. Sparse steps from M+2 on (behaviour (C)); with a refresh R, dense
    /// iff <c>s &lt; 2</c> or <c>s % R == 0</c> (behaviour (B)). Interval 1 means no skipping here too (the
    /// reference would skip every step after M+2, which no config uses).
    /// </summary>
    Reference,
}

/// <summary>What the scale map is when AesMask falls back (flat heat map).</summary>
public enum FallbackGuidance
{
    /// <summary>Uniform <c>cfg_scale</c>, as the reference's docstring intends (engine default, DESIGN §5).</summary>
    UniformCfg,

    /// <summary>Uniform <c>s_fg</c>, what the reference code actually does (<c>_build_masks_for_dual</c> returns all ones).</summary>
    ReferenceForegroundScale,
}

/// <summary>What the MMDiT capture reduces (Lumina always uses cross-attention probabilities).</summary>
public enum AttentionAffinity
{
    /// <summary>The image-query × text-key block of the joint softmax, weighted by word importance (engine default, DESIGN §5).</summary>
    SoftmaxProbabilities,

    /// <summary>The reference's SD3/FLUX capture: pre-softmax logits <c>q·k/√d</c> averaged uniformly over all text tokens, padding included.</summary>
    ReferencePreSoftmaxLogits,
}

/// <summary>Which prompt words carry the heat map's weight (word selection, before <see cref="TokenWeighting"/>).</summary>
public enum WordSelection
{
    /// <summary>
    /// The reference code's <c>compute_token_importance</c> (engine default): one global gate (the best word's anchor
    /// similarity must reach <c>gate</c>), then every content word weighted by its similarity, min-max normalised.
    /// </summary>
    GlobalGate,

    /// <summary>
    /// The paper's Eq. 5: the <c>top_k</c> content words with the highest anchor similarity among those at or above
    /// <c>gate</c> (a per-word threshold), each weighted by its similarity; no word at the gate → equal weights on
    /// every content word (the same fallback as the global gate).
    /// </summary>
    TopK,
}

/// <summary>How the text keys are weighted in the heat map (the paper's Table 8 ablation).</summary>
public enum TokenWeighting
{
    /// <summary>Anchor-aware: the word importance of <see cref="WordSelection"/> (engine default, the paper's method).</summary>
    Anchor,

    /// <summary>Table 8 "Uniform": <c>1/L</c> on all L text keys, special tokens, stop words and padding included (the reference's <c>importance=None</c>).</summary>
    Uniform,

    /// <summary>Table 8 "Non-Aesthetic": positions whose anchor importance is above 0.5 weigh 0.02, every other non-special position 1.</summary>
    NonAesthetic,
}

/// <summary>One knob: its CLI name and what it does.</summary>
public sealed record AccelerationKnob(string Name, string Description);

/// <summary>
/// Every AccelAes hyper-parameter, as one immutable record. Start from <see cref="ForPreset(AccelerationPreset, Backbone)"/> and override
/// with <c>with { … }</c> or <see cref="With(string, string)"/> (knob names as the CLI spells them);
/// <see cref="Validate"/> lists what is wrong, naming the knob.
/// </summary>
/// <remarks>
/// Per-backbone AccelAes defaults (paper / reference code, accelaes-reference-code.md §0):
/// Lumina: 30 steps, cfg 4, mask_step 5, skip_ratio 0.5, s_fg 7, s_bg 1, SkipSparse, capture every 4th of 24
/// layers, StepCache interval 2, warmup 5 (the paper's stated warmup). SD3: 28 steps, cfg 7, mask_step 5,
/// spatial CFG off (paper §0.C.5; the reference ran s_fg 9 / s_bg 2, kept as the values used when it is
/// switched on), SkipSparse off (the paper only managed it on Lumina; DESIGN §5: on where measured not to
/// hurt), warmup 5; the mask is still built at step 5 (cheap) so <c>accelaes explain</c> can show it and
/// <c>spatial_cfg</c> / <c>sparse</c> can be switched on without other changes. FLUX: 28 steps, distilled guidance 3.5, no mask (the reference builds none), warmup 5.
/// </remarks>
public sealed record AccelerationOptions
{
    /// <summary>The backbone the options are for.</summary>
    public required Backbone Backbone { get; init; }

    /// <summary>The preset the defaults came from (informational).</summary>
    public AccelerationPreset Preset { get; init; } = AccelerationPreset.None;

    /// <summary>
    /// TeaCache's <c>rel_l1_thresh</c> (preset teacache, or temporal=teacache); null = the backbone's default
    /// (<see cref="DefaultRelL1ThresholdFor"/>, what <see cref="EffectiveRelL1Threshold"/> gives).
    /// </summary>
    public double? RelL1Threshold { get; init; }

    /// <summary>
    /// The official TeaCache4FLUX demo's <c>rel_l1_thresh</c> for FLUX.1-dev ("0.25 for 1.5x speedup, 0.4 for 1.8x, 0.6
    /// for 2.0x, 0.8 for 2.25x"; teacache_flux.py, ali-vilab/TeaCache@7c10efc).
    /// </summary>
    public const double DefaultRelL1Threshold = 0.6;

    /// <summary>
    /// The official TeaCache4Lumina-T2X demo's <c>rel_l1_thresh</c> for Lumina-Next-SFT ("0.2 for 1.5x speedup, 0.3 for
    /// 1.9x, 0.4 for 2.4x, 0.5 for 2.8x"; teacache_lumina_next.py, ali-vilab/TeaCache@7c10efc).
    /// </summary>
    public const double DefaultLuminaRelL1Threshold = 0.3;

    /// <summary>
    /// SD3's default <c>rel_l1_thresh</c>: no official value exists (no official SD3 coefficients either); the fitted
    /// polynomial estimates the output's relative change per step, and 0.3 is the middle of the authors' published
    /// image-model range (Lumina-Next 0.2–0.5, FLUX 0.25–0.8).
    /// </summary>
    public const double DefaultSd3RelL1Threshold = 0.3;

    /// <summary>The default <c>rel_l1_thresh</c> of a backbone.</summary>
    public static double DefaultRelL1ThresholdFor(Backbone backbone) => backbone switch
    {
        Backbone.Lumina => DefaultLuminaRelL1Threshold,
        Backbone.Sd3 => DefaultSd3RelL1Threshold,
        _ => DefaultRelL1Threshold,
    };

    /// <summary>The <c>rel_l1_thresh</c> the run uses.</summary>
    public double EffectiveRelL1Threshold => RelL1Threshold ?? DefaultRelL1ThresholdFor(Backbone);

    /// <summary>TeaCache's rescale polynomial, highest power first (knob <c>coefficients</c>); null = the backbone's.</summary>
    public IReadOnlyList<double>? TeaCacheCoefficients { get; init; }

    /// <summary>The polynomial the run uses: the knob's, else the backbone's (<see cref="TeaCache.TeaCacheRescale.For(Backbone)"/>).</summary>
    public TeaCache.TeaCacheRescale TeaCacheRescale => TeaCache.TeaCacheRescale.For(Backbone, TeaCacheCoefficients);

    /// <summary>The most coefficients accepted (np.poly1d takes any degree; the authors fit degree 4, five coefficients).</summary>
    public const int MaxTeaCacheCoefficients = 10;

    /// <summary>True when TeaCache decides the steps (dynamic: no schedule before the run).</summary>
    public bool UsesTeaCache => Preset == AccelerationPreset.TeaCache;

    /// <summary>What decides which steps of AccelAes's sampling loop skip the transformer body (knob <c>temporal</c>).</summary>
    public TemporalRule Temporal { get; init; } = TemporalRule.StepCache;

    /// <summary>True when AccelAes's sampling loop runs with TeaCache's adaptive rule in place of StepCache.</summary>
    public bool UsesTemporalTeaCache => Temporal == TemporalRule.TeaCache && !UsesCachePolicy;

    /// <summary>True when any TeaCache rule runs (preset teacache or temporal=teacache): its knobs apply.</summary>
    public bool UsesTeaCacheKnobs => UsesTeaCache || Temporal == TemporalRule.TeaCache;

    /// <summary>
    /// FBCache's <c>residual_diff_threshold</c> (preset fbcache only). Default 0.08, "the default value for FLUX models"
    /// (chengzeyi/ParaAttention doc/fastest_flux.md at commit 4de137c5b96416489f06e43e19f2c14a772e28fd).
    /// </summary>
    public double ResidualDiffThreshold { get; init; } = DefaultResidualDiffThreshold;

    /// <summary>ParaAttention's FBCache threshold for FLUX.</summary>
    public const double DefaultResidualDiffThreshold = 0.08;

    /// <summary>FORA's interval N in the authors' README ("caching frequency 3", <c>--cache-threshold '3'</c>; prathebaselva/FORA@acde628).</summary>
    public const int DefaultForaInterval = 3;

    /// <summary>
    /// True when a caching policy (TeaCache, FBCache, FORA, TaylorSeer) decides per step between computing the transformer's blocks
    /// and reusing its cache, instead of AccelAes's step schedule.
    /// </summary>
    public bool UsesCachePolicy => Preset is AccelerationPreset.TeaCache or AccelerationPreset.FbCache or AccelerationPreset.Fora
        or AccelerationPreset.TaylorSeer or AccelerationPreset.DeltaDit or AccelerationPreset.Ras;

    /// <summary>
    /// Δ-DiT's N_c, knob <c>cached_blocks</c> (preset delta-dit only): the blocks its cache stands in for on a reusing step;
    /// null = ¾ of the model's blocks (<see cref="DeltaDit.DeltaDitSchedule"/> says why).
    /// </summary>
    public int? DeltaDitCachedBlocks { get; init; }

    /// <summary>Δ-DiT's b, knob <c>boundary_step</c> (preset delta-dit only): the first step that caches the front blocks; null = half the steps.</summary>
    public int? DeltaDitBoundaryStep { get; init; }

    /// <summary>Δ-DiT's cache interval N: the paper gives none for these backbones; 2 is this engine's choice (<see cref="DeltaDit.DeltaDitSchedule"/>).</summary>
    public const int DefaultDeltaDitInterval = 2;

    /// <summary>RAS's knobs (preset ras: the authors' settings for the backbone; other presets carry the official argparser's defaults, unused).</summary>
    public RasSettings Ras { get; init; } = RasSettings.Default;

    /// <summary>TaylorSeer's <c>max_order</c> (preset taylorseer only): the highest derivative of its forecast; 0 reuses the features unchanged.</summary>
    public int TaylorOrder { get; init; } = DefaultTaylorOrder;

    /// <summary>
    /// TaylorSeer's FLUX defaults, mode 'Taylor' of cache_init.py (Shenyi-Z/TaylorSeer TaylorSeer-FLUX@288776d):
    /// <c>max_order</c> 1, <c>fresh_threshold</c> 6 (the interval), <c>first_enhance</c> 3 (the warmup).
    /// </summary>
    public const int DefaultTaylorOrder = 1, DefaultTaylorInterval = 6, DefaultTaylorFirstEnhance = 3;

    /// <summary>The highest <c>max_order</c> accepted: each order keeps one more feature-sized tensor per block output.</summary>
    public const int MaxTaylorOrder = 4;

    /// <summary>Denoising steps (knob <c>steps</c>).</summary>
    public int Steps { get; init; } = 28;

    /// <summary>CFG scale (Lumina, SD3), or FLUX's distilled guidance value (knob <c>guidance</c>).</summary>
    public double GuidanceScale { get; init; } = 7.0;

    /// <summary>The step whose forward captures attention for AesMask; null = no mask (knob <c>mask_step</c>).</summary>
    public int? MaskStep { get; init; }

    /// <summary>Background fraction: the mask keeps the top <c>1 − skip_ratio</c> of the heat map (knob <c>skip_ratio</c>).</summary>
    public double SkipRatio { get; init; } = 0.5;

    /// <summary>Spatial CFG from the mask step on (knob <c>spatial_cfg</c>).</summary>
    public bool SpatialCfg { get; init; }

    /// <summary>Guidance scale on focus tokens (knob <c>s_fg</c>).</summary>
    public double ForegroundScale { get; init; } = 7.0;

    /// <summary>Guidance scale on background tokens (knob <c>s_bg</c>).</summary>
    public double BackgroundScale { get; init; } = 1.0;

    /// <summary>SkipSparse: focus-only queries and FFN after the cache-fill step (knob <c>sparse</c>).</summary>
    public bool SkipSparse { get; init; }

    /// <summary>Background refresh: every R-th computed step after a cache fill runs dense and refills the caches; 0 = never (knob <c>refresh</c>).</summary>
    public int Refresh { get; init; }

    /// <summary>Steps at the start that are always computed (knob <c>warmup</c>).</summary>
    public int Warmup { get; init; }

    /// <summary>StepCache stride: computed steps are this many steps apart after the warmup; 1 = no skipping (knob <c>interval</c>).</summary>
    public int Interval { get; init; } = 1;

    /// <summary>Capture on every n-th layer (0, n, 2n, …) unless <see cref="CaptureLayers"/> is set (knob <c>layers</c> = <c>every:n</c>).</summary>
    public int CaptureLayerStride { get; init; } = 4;

    /// <summary>Explicit capture layers (knob <c>layers</c> = <c>0,4,8</c>); null = by stride.</summary>
    public IReadOnlyList<int>? CaptureLayers { get; init; }

    /// <summary>How skipped steps' velocities are extrapolated (knob <c>extrapolation</c>).</summary>
    public ExtrapolationRule Extrapolation { get; init; } = ExtrapolationRule.LinearInSigma;

    /// <summary>Engine or reference schedule rules (knob <c>schedule</c>).</summary>
    public ScheduleStyle Schedule { get; init; } = ScheduleStyle.Engine;

    /// <summary>How the heat map is thresholded (knob <c>threshold</c>).</summary>
    public MaskThresholdRule Threshold { get; init; } = MaskThresholdRule.Quantile;

    /// <summary>σ of the mask blur; null = the threshold rule's (1.0 AesMask, 1.5 SD3/FLUX reference) (knob <c>blur_sigma</c>).</summary>
    public double? BlurSigma { get; init; }

    /// <summary>Flatness fallback: no mask when the normalised heat map's std is below this (knob <c>std_threshold</c>).</summary>
    public double StdThreshold { get; init; } = 0.12;

    /// <summary>The global anchor-similarity gate of word importance (knob <c>gate</c>).</summary>
    public double ConfidenceGate { get; init; } = TokenImportance.DefaultConfidenceGate;

    /// <summary>Which words carry weight: the reference's global gate or the paper's top-k (knob <c>words</c>).</summary>
    public WordSelection WordSelection { get; init; } = WordSelection.GlobalGate;

    /// <summary>k of <see cref="WordSelection.TopK"/> (knob <c>top_k</c>; the reference's unused <c>top_m</c> is 5).</summary>
    public int TopK { get; init; } = 5;

    /// <summary>Anchor-aware, uniform or non-aesthetic text-key weights (knob <c>weighting</c>).</summary>
    public TokenWeighting TokenWeighting { get; init; } = TokenWeighting.Anchor;

    /// <summary>
    /// SkipSparse also runs the FFN on focus rows only (knob <c>sparse_ffn</c>; the paper's Table 7 "attention + FFN");
    /// off = attention-only sparsity, the FFN runs on every row.
    /// </summary>
    public bool SparseFeedForward { get; init; } = true;

    /// <summary>
    /// The run's token grid (rows, columns) when known: the mask must fit it (its blur pads by reflection), so a mask
    /// on a grid too small is a preset note or a validation error before any model loads, not a failure at the mask step.
    /// </summary>
    public ImageTokenGrid? TokenGrid { get; init; }

    /// <summary>The guidance used when the mask falls back (knob <c>fallback_guidance</c>).</summary>
    public FallbackGuidance FallbackGuidance { get; init; } = FallbackGuidance.UniformCfg;

    /// <summary>What the MMDiT capture reduces (knob <c>affinity</c>).</summary>
    public AttentionAffinity Affinity { get; init; } = AttentionAffinity.SoftmaxProbabilities;

    /// <summary>
    /// Which of the preset's components are off because of the step count (see
    /// <see cref="ForPreset(AccelerationPreset, Backbone, int)"/>), as sentences a user reads; null when none is. Derived
    /// from the options themselves, so an override that switched a component back on (such as <c>interval=2</c>)
    /// leaves no note for it.
    /// </summary>
    public string? PresetNote
    {
        get
        {
            AccelerationOptions published = ForPreset(Preset, Backbone);
            var notes = new List<string>();
            if (published.MaskStep is int maskStep && MaskStep is null && Steps < MinimumStepsForAesMask)
                notes.Add($"AesMask is off: the {PresetName(Preset)} preset captures its mask {maskStep} of {published.Steps} steps in, and with {Steps} steps " +
                          $"(fewer than {MinimumStepsForAesMask}) too few would be left to use it; this run has no mask, spatial CFG or SkipSparse.");
            if (published.Interval > 1 && Interval == 1 && Steps < MinimumStepsForStepCache && !UsesCachePolicy && Temporal == TemporalRule.StepCache)
                notes.Add($"StepCache is off: with {Steps} steps (fewer than {MinimumStepsForStepCache}) each step covers too much of the trajectory " +
                          "to extrapolate; every step is computed (few-step and distilled models such as FLUX.1-schnell run this way).");
            if (published.MaskStep is not null && MaskStep is null && Steps >= MinimumStepsForAesMask && TokenGrid is { } grid && !MaskFits(grid))
                notes.Add($"AesMask is off: the token grid of this size, {grid}, is smaller than the mask's blur (σ {EffectiveBlurSigma}) " +
                          $"needs ({MinimumMaskGridSide} × {MinimumMaskGridSide} tokens); this run has no mask, spatial CFG or SkipSparse.");
            if (published.SpatialCfg && !SpatialCfg && MaskStep is not null && UsesCfg && GuidanceScale <= 1)
                notes.Add($"Spatial CFG is off: guidance {GuidanceScale.ToString(CultureInfo.InvariantCulture)} (≤ 1) runs without classifier-free guidance, so there is no guidance to shape.");
            return notes.Count == 0 ? null : string.Join(" ", notes);
        }
    }

    /// <summary>The smallest token-grid side the mask's blur accepts.</summary>
    public int MinimumMaskGridSide => GaussianBlur.MinimumGridSide(EffectiveBlurSigma);

    /// <summary>True when a mask of these options can be built on <paramref name="grid"/>.</summary>
    public bool MaskFits(ImageTokenGrid grid) => grid.Height >= MinimumMaskGridSide && grid.Width >= MinimumMaskGridSide;

    /// <summary>
    /// What the guidance scale does under spatial CFG, for a user who set it: it guides only before the mask exists and
    /// when the mask falls back. Null without spatial CFG.
    /// </summary>
    public string? SpatialGuidanceNote => SpatialCfg && MaskStep is int m
        ? $"With spatial CFG the guidance scale {GuidanceScale.ToString(CultureInfo.InvariantCulture)} applies to steps 0–{m - 1} " +
          $"(and every step if the mask falls back, fallback_guidance=cfg); from step {m} on the scale runs from s_bg " +
          $"{BackgroundScale.ToString(CultureInfo.InvariantCulture)} on the background to s_fg {ForegroundScale.ToString(CultureInfo.InvariantCulture)} on the focus tokens."
        : null;

    /// <summary>True when AesMask runs (a mask step is set).</summary>
    public bool UsesMask => MaskStep is not null;

    /// <summary>True when the backbone runs classifier-free guidance (two branches).</summary>
    public bool UsesCfg => Backbone != Backbone.Flux;

    /// <summary>The blur σ actually used.</summary>
    public double EffectiveBlurSigma => BlurSigma ?? (Threshold == MaskThresholdRule.Sd3FluxPercentile ? 1.5 : 1.0);

    /// <summary>The mask finalisation settings these options imply.</summary>
    public MaskFinalisationOptions MaskFinalisation => new(SkipRatio, EffectiveBlurSigma, StdThreshold, Threshold);

    /// <summary>The defaults of a preset for a backbone.</summary>
    public static AccelerationOptions ForPreset(AccelerationPreset preset, Backbone backbone)
    {
        var dense = backbone switch
        {
            Backbone.Lumina => new AccelerationOptions
            {
                Backbone = backbone, Steps = 30, GuidanceScale = 4.0, ForegroundScale = 7.0, BackgroundScale = 1.0, CaptureLayerStride = 4,
            },
            Backbone.Sd3 => new AccelerationOptions
            {
                Backbone = backbone, Steps = 28, GuidanceScale = 7.0, ForegroundScale = 9.0, BackgroundScale = 2.0, CaptureLayerStride = 4,
            },
            Backbone.Flux => new AccelerationOptions
            {
                Backbone = backbone, Steps = 28, GuidanceScale = 3.5, ForegroundScale = 3.5, BackgroundScale = 3.5, CaptureLayerStride = 3,
            },
            _ => throw new ArgumentOutOfRangeException(nameof(backbone), backbone, "unknown backbone"),
        };

        return preset switch
        {
            AccelerationPreset.None => dense,
            AccelerationPreset.TeaCache => dense with { Preset = preset },
            AccelerationPreset.FbCache => dense with { Preset = preset },
            AccelerationPreset.Fora => dense with { Preset = preset, Interval = DefaultForaInterval },
            AccelerationPreset.TaylorSeer => dense with { Preset = preset, Interval = DefaultTaylorInterval, Warmup = DefaultTaylorFirstEnhance },
            AccelerationPreset.DeltaDit => dense with { Preset = preset, Interval = DefaultDeltaDitInterval },
            AccelerationPreset.StepCache => dense with { Preset = preset, Warmup = 2, Interval = 2 },
            AccelerationPreset.Ras => dense with { Preset = preset, Ras = RasSettings.Published(backbone) },
            AccelerationPreset.AccelAes => backbone switch
            {
                Backbone.Lumina => dense with { Preset = preset, MaskStep = 5, SkipRatio = 0.5, SpatialCfg = true, SkipSparse = true, Warmup = 5, Interval = 2 },
                Backbone.Sd3 => dense with { Preset = preset, MaskStep = 5, SkipRatio = 0.5, SpatialCfg = false, SkipSparse = false, Warmup = 5, Interval = 2 },
                _ => dense with { Preset = preset, Warmup = 5, Interval = 2 },
            },
            _ => throw new ArgumentOutOfRangeException(nameof(preset), preset, "unknown preset"),
        };
    }

    /// <summary>Fewest steps at which a preset keeps AesMask on (mask capture, spatial CFG, SkipSparse).</summary>
    public const int MinimumStepsForAesMask = 8;

    /// <summary>Fewest steps at which a preset keeps StepCache on.</summary>
    public const int MinimumStepsForStepCache = 8;

    /// <summary>
    /// A preset for a run of <paramref name="steps"/> steps. The published values (<see cref="ForPreset(AccelerationPreset, Backbone)"/>)
    /// are for the paper's step counts (30 Lumina-Next, 28 SD3 and FLUX); at other counts the step indices scale with
    /// N, so the mask is captured and the skipping starts at the same point of the trajectory: mask_step =
    /// max(1, round(5·N/N₀)), warmup = max(2, round(w·N/N₀)). Below <see cref="MinimumStepsForAesMask"/> steps the
    /// mask would leave too few steps to use it, and below <see cref="MinimumStepsForStepCache"/> each step covers
    /// too much of the trajectory to extrapolate (few-step and distilled models: FLUX.1-schnell runs 4): those
    /// components turn off, and <see cref="PresetNote"/> says so. A preset never makes a valid step count an error.
    /// </summary>
    public static AccelerationOptions ForPreset(AccelerationPreset preset, Backbone backbone, int steps)
        => ForRun(preset, backbone, steps, guidance: null, grid: null);

    /// <summary>
    /// A preset for a run: <see cref="ForPreset(AccelerationPreset, Backbone, int)"/>, then with the run's guidance (when
    /// given: a guidance ≤ 1 runs SD3 and Lumina without CFG, so the preset's spatial CFG turns off) and token grid (when
    /// given: a grid smaller than the mask's blur turns AesMask off). <see cref="PresetNote"/> says what turned off.
    /// </summary>
    public static AccelerationOptions ForRun(AccelerationPreset preset, Backbone backbone, int steps, double? guidance, ImageTokenGrid? grid)
    {
        AccelerationOptions options = ScaledToSteps(preset, backbone, steps);
        if (guidance is double g)
        {
            options = options with { GuidanceScale = g };
            if (options.SpatialCfg && options.UsesCfg && g <= 1) options = options with { SpatialCfg = false };
        }
        if (grid is { } tokens)
        {
            options = options with { TokenGrid = tokens };
            if (options.UsesMask && !options.MaskFits(tokens)) options = options.WithoutMask();
        }
        return options;
    }

    /// <summary>AesMask off, with the two components that need its mask (spatial CFG, SkipSparse).</summary>
    private AccelerationOptions WithoutMask() => this with { MaskStep = null, SpatialCfg = false, SkipSparse = false };

    private static AccelerationOptions ScaledToSteps(AccelerationPreset preset, Backbone backbone, int steps)
    {
        AccelerationOptions published = ForPreset(preset, backbone);
        int reference = published.Steps;
        int Scaled(int index) => (int)Math.Round(index * (double)steps / reference, MidpointRounding.AwayFromZero);
        var options = published with { Steps = steps };
        if (published.MaskStep is int maskStep)
            options = steps < MinimumStepsForAesMask
                ? options.WithoutMask()
                : options with { MaskStep = Math.Max(1, Scaled(maskStep)) };
        // RAS's start, end and reset steps sit at the same points of the trajectory.
        if (preset == AccelerationPreset.Ras) options = options with { Ras = published.Ras.ScaledTo(steps, reference) };
        // TaylorSeer's first_enhance never exceeds the run (a 2-step run computes both).
        if (preset == AccelerationPreset.TaylorSeer) options = options with { Warmup = Math.Min(published.Warmup, steps) };
        // FORA's and TaylorSeer's intervals are their own rules (any step count), not StepCache's stride with a warmup.
        if (published.Interval > 1 && !published.UsesCachePolicy)
            options = steps < MinimumStepsForStepCache
                ? options with { Interval = 1, Warmup = 0 }
                : options with { Warmup = Math.Max(2, Scaled(published.Warmup)) };
        return options;
    }

    /// <summary>The preset names <c>--accel</c> takes (and the C ABI's <c>accel_preset</c>), both ways.</summary>
    private static readonly KnobVocabulary<AccelerationPreset> PresetNames = new("accel",
        (AccelerationPreset.None, "none", ["dense"]),
        (AccelerationPreset.StepCache, "stepcache", ["step_cache"]),
        (AccelerationPreset.AccelAes, "accelaes", []),
        (AccelerationPreset.TeaCache, "teacache", []),
        (AccelerationPreset.FbCache, "fbcache", ["first_block_cache"]),
        (AccelerationPreset.Fora, "fora", []),
        (AccelerationPreset.TaylorSeer, "taylorseer", ["taylor_seer"]),
        (AccelerationPreset.DeltaDit, "delta-dit", ["deltadit", "delta_dit"]),
        (AccelerationPreset.Ras, "ras", ["region_adaptive_sampling"]));

    /// <summary>The preset as <c>--accel</c> spells it.</summary>
    public static string PresetName(AccelerationPreset preset) => PresetNames.Name(preset);

    /// <summary>A preset by its CLI name: <c>none</c>, <c>stepcache</c>, <c>accelaes</c>, <c>teacache</c>, <c>fbcache</c>, <c>fora</c>, <c>taylorseer</c>, <c>delta-dit</c>.</summary>
    public static AccelerationOptions ForPreset(string preset, Backbone backbone) => ForPreset(ParsePreset(preset), backbone);

    /// <summary>Parses a preset name (case-insensitive).</summary>
    public static AccelerationPreset ParsePreset(string name) => PresetNames.TryParse(name)
        ?? throw new AccelAesException($"Unknown acceleration preset '{name}'; use {PresetNames.Expected}.");

    /// <summary>The knobs <see cref="With(string, string)"/> accepts.</summary>
    public static IReadOnlyList<AccelerationKnob> Knobs { get; } =
    [
        new("skip_ratio", "background fraction of the mask, in [0, 1)"),
        new("mask_step", "step whose forward captures attention for AesMask, or off"),
        new("spatial_cfg", "on/off: guidance scale map s_bg + m·(s_fg − s_bg) from mask_step on"),
        new("s_fg", "guidance scale on focus tokens"),
        new("s_bg", "guidance scale on background tokens"),
        new("sparse", "on/off: SkipSparse (focus queries, focus FFN rows) after the cache-fill step"),
        new("refresh", "dense background refresh every R computed steps after a fill; 0 = never"),
        new("warmup", "steps at the start that are always computed (stepcache, accelaes, fbcache; taylorseer: first_enhance, default 3)"),
        new("interval", "StepCache stride between computed steps; fora: every interval-th step (counted from the last) computes, default 3; taylorseer: fresh_threshold, default 6; delta-dit: N, step 0 and every interval-th step run every block, default 2; 1 = no skipping"),
        new("layers", "capture layers: every:N (default every 4th, FLUX every 3rd: the reference code's, which produced the paper's tables), all (the paper's Eq. 6) or a list such as 0,4,8"),
        new("extrapolation", "linear_sigma (engine), index (paper Eq. 12–13: linear in the step index) or reference (2·v_last − v_prev)"),
        new("schedule", "engine or reference (the reference code's step lists)"),
        new("threshold", "quantile (AesMask) or sd3_percentile (the reference's SD3/FLUX rule)"),
        new("blur_sigma", "σ of the mask blur, or auto"),
        new("std_threshold", "flat heat maps (std below this) use no mask"),
        new("gate", "anchor-similarity gate of word importance (global with words=gate, per word with words=topk)"),
        new("words", "gate (reference: global gate, min-max weights) or topk (paper Eq. 5: the top_k words at or above the gate)"),
        new("top_k", "words=topk: how many words keep weight"),
        new("weighting", "anchor (engine), uniform or non_aesthetic (paper Table 8 ablations)"),
        new("sparse_ffn", "on/off: SkipSparse also runs the FFN on focus rows (off: attention-only sparsity, paper Table 7)"),
        new("fallback_guidance", "cfg (engine) or s_fg (reference) when the mask falls back"),
        new("affinity", "probabilities (engine) or logits (reference SD3/FLUX capture)"),
        new("rel_l1_thresh", "teacache (and temporal=teacache): reuse the cached residual while the accumulated rescaled relative L1 change stays below this; 0 = never; default per backbone: FLUX 0.6, Lumina-Next 0.3 (official demos), SD3 0.3"),
        new("coefficients", "teacache (and temporal=teacache): the rescale polynomial a,b,c,d,e (highest power first, np.poly1d), or auto: official FLUX and Lumina-Next, SD3 fitted on the tiny random-weight model"),
        new("temporal", "stepcache (default: fixed stride, extrapolated skips) or teacache (TeaCache's adaptive rule decides which steps reuse the cached residual; sets interval 1, warmup 0)"),
        new("max_order", $"taylorseer: highest derivative of the Taylor forecast, 0–{MaxTaylorOrder}, default 1 (0 reuses the features unchanged)"),
        new("residual_diff_threshold", "fbcache: reuse the remaining blocks' cached residual while block 0's residual differs from the last computed step's by less than this (relative L1); 0 = never"),
        new("cached_blocks", "delta-dit: N_c, the blocks its cache stands in for between computed steps, or auto (¾ of the model's blocks); 0 = dense"),
        new("boundary_step", "delta-dit: b, the first step that caches the front blocks instead of the rear ones, or auto (half the steps)"),
        .. RasSettings.Knobs,
    ];

    /// <summary>Returns a copy with one knob set from text, e.g. <c>With("skip_ratio", "0.3")</c>.</summary>
    /// <exception cref="AccelAesException">Unknown knob or unparsable value; the message names the knob.</exception>
    public AccelerationOptions With(string knob, string value)
    {
        ArgumentNullException.ThrowIfNull(knob);
        ArgumentNullException.ThrowIfNull(value);
        string k = knob.Trim().ToLowerInvariant().Replace('-', '_');
        string v = value.Trim();
        return k switch
        {
            "steps" => throw new AccelAesException(
                $"{k}: the step count is the run's own setting, not a knob; give it once, as --steps (C ABI: accelaes_generate_options.steps)."),
            "guidance" or "cfg" or "cfg_scale" or "guidance_scale" => throw new AccelAesException(
                $"{k}: the guidance scale is the run's own setting, not a knob; give it once, as --guidance (C ABI: accelaes_generate_options.guidance)."),
            "skip_ratio" => this with { SkipRatio = Number(k, v) },
            "mask_step" => this with { MaskStep = IsOff(v) ? null : Int(k, v) },
            "spatial_cfg" => this with { SpatialCfg = Bool(k, v) },
            "s_fg" => this with { ForegroundScale = Number(k, v) },
            "s_bg" => this with { BackgroundScale = Number(k, v) },
            "sparse" or "skip_sparse" => this with { SkipSparse = Bool(k, v) },
            "refresh" => this with { Refresh = IsOff(v) ? 0 : Int(k, v) },
            "rel_l1_thresh" => this with { RelL1Threshold = IsAuto(v) ? null : Number(k, v) },
            "coefficients" => this with { TeaCacheCoefficients = IsAuto(v) ? null : Numbers(k, v) },
            "temporal" => TemporalNames.Parse(v) switch
            {
                // TeaCache replaces StepCache's stride: no stride, no warmup (its first and last steps always compute).
                TemporalRule.TeaCache => this with { Temporal = TemporalRule.TeaCache, Interval = 1, Warmup = 0 },
                var rule => this with { Temporal = rule },
            },
            "residual_diff_threshold" => this with { ResidualDiffThreshold = Number(k, v) },
            "max_order" => this with { TaylorOrder = Int(k, v) },
            "cached_blocks" => this with { DeltaDitCachedBlocks = IsAuto(v) ? null : Int(k, v) },
            "boundary_step" => this with { DeltaDitBoundaryStep = IsAuto(v) ? null : Int(k, v) },
            "warmup" => this with { Warmup = Int(k, v) },
            "interval" => this with { Interval = Int(k, v) },
            "layers" => WithLayers(v),
            "extrapolation" => this with { Extrapolation = ExtrapolationNames.Parse(v) },
            "schedule" => this with { Schedule = ScheduleNames.Parse(v) },
            "threshold" => this with { Threshold = ThresholdNames.Parse(v) },
            "blur_sigma" => this with { BlurSigma = v.Equals("auto", StringComparison.OrdinalIgnoreCase) ? null : Number(k, v) },
            "std_threshold" => this with { StdThreshold = Number(k, v) },
            "gate" => this with { ConfidenceGate = Number(k, v) },
            "words" => this with { WordSelection = WordNames.Parse(v) },
            "top_k" => this with { TopK = Int(k, v) },
            "weighting" => this with { TokenWeighting = WeightingNames.Parse(v) },
            "sparse_ffn" => this with { SparseFeedForward = Bool(k, v) },
            "fallback_guidance" => this with { FallbackGuidance = FallbackNames.Parse(v) },
            "affinity" => this with { Affinity = AffinityNames.Parse(v) },
            _ when RasSettings.IsKnob(k) => this with { Ras = Ras.With(k, v) },
            _ => throw new AccelAesException(
                $"Unknown acceleration knob '{knob}'. Knobs: {string.Join(", ", Knobs.Select(x => x.Name))}."),
        };
    }

    private static readonly KnobVocabulary<ExtrapolationRule> ExtrapolationNames = new("extrapolation",
        (ExtrapolationRule.LinearInSigma, "linear_sigma", ["linear", "sigma"]),
        (ExtrapolationRule.LinearInStepIndex, "index", ["linear_index"]),
        (ExtrapolationRule.ReferenceDoubledSlope, "reference", ["doubled_slope"]));

    private static readonly KnobVocabulary<TemporalRule> TemporalNames = new("temporal",
        (TemporalRule.StepCache, "stepcache", ["step_cache"]),
        (TemporalRule.TeaCache, "teacache", []));

    private static readonly KnobVocabulary<ScheduleStyle> ScheduleNames = new("schedule",
        (ScheduleStyle.Engine, "engine", []),
        (ScheduleStyle.Reference, "reference", []));

    private static readonly KnobVocabulary<MaskThresholdRule> ThresholdNames = new("threshold",
        (MaskThresholdRule.Quantile, "quantile", []),
        (MaskThresholdRule.Sd3FluxPercentile, "sd3_percentile", ["percentile"]));

    private static readonly KnobVocabulary<WordSelection> WordNames = new("words",
        (WordSelection.GlobalGate, "gate", ["global", "reference"]),
        (WordSelection.TopK, "topk", ["top_k", "paper"]));

    private static readonly KnobVocabulary<TokenWeighting> WeightingNames = new("weighting",
        (TokenWeighting.Anchor, "anchor", ["aesthetic"]),
        (TokenWeighting.Uniform, "uniform", []),
        (TokenWeighting.NonAesthetic, "non_aesthetic", ["nonaesthetic", "inverted"]));

    private static readonly KnobVocabulary<FallbackGuidance> FallbackNames = new("fallback_guidance",
        (FallbackGuidance.UniformCfg, "cfg", ["uniform"]),
        (FallbackGuidance.ReferenceForegroundScale, "s_fg", ["reference"]));

    private static readonly KnobVocabulary<AttentionAffinity> AffinityNames = new("affinity",
        (AttentionAffinity.SoftmaxProbabilities, "probabilities", ["probs"]),
        (AttentionAffinity.ReferencePreSoftmaxLogits, "logits", ["reference"]));

    /// <summary>
    /// Every knob's value as text <see cref="With(string, string)"/> accepts back (canonical names, round-trip numbers):
    /// what run records store, so each pair could be given again as an override.
    /// </summary>
    public IEnumerable<KeyValuePair<string, string>> KnobValues()
    {
        var inv = CultureInfo.InvariantCulture;
        string N(double value) => value.ToString("R", inv);
        string I(int value) => value.ToString(inv);
        string OnOff(bool value) => value ? "on" : "off";
        yield return new("skip_ratio", N(SkipRatio));
        yield return new("mask_step", MaskStep is int m ? I(m) : "off");
        yield return new("spatial_cfg", OnOff(SpatialCfg));
        yield return new("s_fg", N(ForegroundScale));
        yield return new("s_bg", N(BackgroundScale));
        yield return new("sparse", OnOff(SkipSparse));
        yield return new("refresh", I(Refresh));
        yield return new("warmup", I(Warmup));
        yield return new("interval", I(Interval));
        yield return new("layers", CaptureLayers is { } layers ? string.Join(",", layers.Select(I)) : $"every:{I(CaptureLayerStride)}");
        yield return new("extrapolation", ExtrapolationNames.Name(Extrapolation));
        yield return new("schedule", ScheduleNames.Name(Schedule));
        yield return new("threshold", ThresholdNames.Name(Threshold));
        yield return new("blur_sigma", BlurSigma is double sigma ? N(sigma) : "auto");
        yield return new("std_threshold", N(StdThreshold));
        yield return new("gate", N(ConfidenceGate));
        yield return new("words", WordNames.Name(WordSelection));
        yield return new("top_k", I(TopK));
        yield return new("weighting", WeightingNames.Name(TokenWeighting));
        yield return new("sparse_ffn", OnOff(SparseFeedForward));
        yield return new("fallback_guidance", FallbackNames.Name(FallbackGuidance));
        yield return new("affinity", AffinityNames.Name(Affinity));
        // TeaCache's knobs are written with their values only where a TeaCache rule runs: elsewhere a value would be an
        // override the rerun refuses ("only --accel teacache uses it").
        yield return new("rel_l1_thresh", UsesTeaCacheKnobs ? N(EffectiveRelL1Threshold) : "auto");
        yield return new("coefficients", UsesTeaCacheKnobs ? TeaCacheRescale.KnobValue : "auto");
        yield return new("temporal", TemporalNames.Name(Temporal));
        yield return new("residual_diff_threshold", N(ResidualDiffThreshold));
        yield return new("max_order", I(TaylorOrder));
        yield return new("cached_blocks", DeltaDitCachedBlocks is int cached ? I(cached) : "auto");
        yield return new("boundary_step", DeltaDitBoundaryStep is int boundary ? I(boundary) : "auto");
        foreach (var pair in Ras.KnobValues()) yield return pair;
    }

    private AccelerationOptions WithLayers(string v)
    {
        if (v.StartsWith("every:", StringComparison.OrdinalIgnoreCase))
            return this with { CaptureLayerStride = Int("layers", v["every:".Length..]), CaptureLayers = null };
        if (v.Equals("all", StringComparison.OrdinalIgnoreCase)) return this with { CaptureLayerStride = 1, CaptureLayers = null };
        string[] parts = v.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw Bad("layers", v, "every:N, all, or a list such as 0,4,8");
        return this with { CaptureLayers = parts.Select(p => Int("layers", p)).ToArray() };
    }

    /// <summary>The largest layer index or capture stride accepted (the deepest real backbones have 57 blocks).</summary>
    private const int MaxLayerIndex = 10_000;

    /// <summary>
    /// The largest heat-map blur, in tokens: the widest token grid the engine generates is 8192 / 16 = 512 tokens, so a
    /// larger σ only flattens the map (and its kernel, 3σ wide, would be an allocation the size of the typo).
    /// </summary>
    private const double MaxBlurSigma = 1024;

    /// <summary>The most words top-k may keep (a prompt of the longest sequence has fewer).</summary>
    private const int MaxTopK = InputLimits.MaxSequenceLength;

    /// <summary>The flat-heat-map threshold compares a standard deviation of min-max normalised values (at most 0.5); far above is a typo.</summary>
    private const double MaxStdThreshold = 1e6;

    /// <summary>Every problem with the options, each message starting with the knob's name; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var e = new List<string>();
        if (Steps < 1 || Steps > InputLimits.MaxSteps) e.Add($"steps: must be between 1 and {InputLimits.MaxSteps}, got {Steps}.");
        if (!double.IsFinite(GuidanceScale)) e.Add($"guidance: must be a finite number, got {GuidanceScale}.");
        if (!(SkipRatio >= 0 && SkipRatio < 1)) e.Add($"skip_ratio: must be in [0, 1), got {SkipRatio}.");
        if (MaskStep is int m && (m < 0 || m >= Steps))
            e.Add($"mask_step: must be a step index in [0, {Steps - 1}] for {Steps} steps, got {m}.");
        if (SpatialCfg && Backbone == Backbone.Flux)
            e.Add("spatial_cfg: FLUX is guidance-distilled (one pass, no CFG branches), so there is no guidance to shape.");
        if (SpatialCfg && MaskStep is null) e.Add("spatial_cfg: needs a mask (set mask_step).");
        if (SpatialCfg && UsesCfg && GuidanceScale <= 1)
            e.Add($"spatial_cfg: shapes classifier-free guidance, which a guidance scale of {GuidanceScale.ToString(CultureInfo.InvariantCulture)} (≤ 1) turns off; " +
                  "raise --guidance above 1 or leave spatial_cfg off.");
        bool blurValid = BlurSigma is not double sigma || (sigma > 0 && sigma <= MaxBlurSigma); // an invalid σ has its own message above
        if (MaskStep is not null && TokenGrid is { } grid && blurValid && !MaskFits(grid))
            e.Add($"mask_step: the mask's blur (σ {EffectiveBlurSigma}) needs a token grid of at least {MinimumMaskGridSide} × {MinimumMaskGridSide}, " +
                  $"but this image gives {grid} tokens; generate a larger image, lower blur_sigma, or set mask_step=off.");
        if (!(Math.Abs(ForegroundScale) <= InputLimits.MaxGuidanceScale)) e.Add($"s_fg: must be a number between ±{InputLimits.MaxGuidanceScale}, got {ForegroundScale}.");
        if (!(Math.Abs(BackgroundScale) <= InputLimits.MaxGuidanceScale)) e.Add($"s_bg: must be a number between ±{InputLimits.MaxGuidanceScale}, got {BackgroundScale}.");
        if (SkipSparse && MaskStep is null) e.Add("sparse: SkipSparse needs a mask (set mask_step).");
        if (Refresh < 0 || Refresh > InputLimits.MaxSteps) e.Add($"refresh: must be 0 (never) or a number of computed steps up to {InputLimits.MaxSteps}, got {Refresh}.");
        if (Refresh > 0 && !SkipSparse) e.Add("refresh: a background refresh only exists with SkipSparse (sparse=on).");
        if (Warmup < 0 || Warmup > Steps) e.Add($"warmup: must be in [0, {Steps}] for {Steps} steps, got {Warmup}.");
        if (Interval < 1 || Interval > InputLimits.MaxSteps) e.Add($"interval: must be between 1 (no skipping) and {InputLimits.MaxSteps}, got {Interval}.");
        if (CaptureLayerStride < 1 || CaptureLayerStride > MaxLayerIndex) e.Add($"layers: the capture stride must be between 1 and {MaxLayerIndex}, got {CaptureLayerStride}.");
        if (CaptureLayers is { } layers)
        {
            if (layers.Count == 0) e.Add("layers: the capture layer list is empty.");
            if (layers.Any(l => l < 0 || l > MaxLayerIndex)) e.Add($"layers: layer indices must be between 0 and {MaxLayerIndex} ({string.Join(",", layers)}).");
            if (layers.Distinct().Count() != layers.Count) e.Add($"layers: layer {layers.GroupBy(l => l).First(g => g.Count() > 1).Key} is listed twice.");
        }

        if (BlurSigma is double s && !(s > 0 && s <= MaxBlurSigma)) e.Add($"blur_sigma: must be a number above 0 and at most {MaxBlurSigma} tokens, got {s}.");
        if (!(StdThreshold >= 0 && StdThreshold <= MaxStdThreshold)) e.Add($"std_threshold: must be a number between 0 and {MaxStdThreshold}, got {StdThreshold}.");
        if (!(ConfidenceGate >= -1 && ConfidenceGate <= 1)) e.Add($"gate: a cosine-similarity gate must be in [-1, 1], got {ConfidenceGate}.");
        if (TopK < 1 || TopK > MaxTopK) e.Add($"top_k: must be between 1 and {MaxTopK} words, got {TopK}.");
        e.AddRange(TeaCacheProblems());
        e.AddRange(CachePolicyProblems());
        e.AddRange(DeltaDitProblems());
        e.AddRange(RasProblems());
        if (Affinity == AttentionAffinity.ReferencePreSoftmaxLogits && Backbone == Backbone.Lumina)
            e.Add("affinity: the pre-softmax logit capture is the reference's SD3/FLUX variant; Lumina captures cross-attention probabilities.");
        return e;
    }

    /// <summary>The largest <c>rel_l1_thresh</c>: the official demo's largest is 0.8; far above, every middle step reuses.</summary>
    private const double MaxRelL1Threshold = 1e6;

    private IEnumerable<string> TeaCacheProblems()
    {
        if (RelL1Threshold is double threshold && !(threshold >= 0 && threshold <= MaxRelL1Threshold))
            yield return $"rel_l1_thresh: must be a number between 0 and {MaxRelL1Threshold}, got {threshold}.";
        if (TeaCacheCoefficients is { } coefficients && (coefficients.Count is 0 or > MaxTeaCacheCoefficients || coefficients.Any(c => !double.IsFinite(c))))
            yield return $"coefficients: must be 1 to {MaxTeaCacheCoefficients} finite numbers, highest power first (e.g. coefficients=a,b,c,d,e), got {coefficients.Count}.";
        if (!UsesTeaCacheKnobs)
        {
            if (RelL1Threshold is not null) yield return "rel_l1_thresh: only --accel teacache uses it (and --accel accelaes with temporal=teacache).";
            if (TeaCacheCoefficients is not null) yield return "coefficients: only --accel teacache uses it (and --accel accelaes with temporal=teacache).";
            yield break;
        }
        if (Temporal == TemporalRule.TeaCache)
        {
            foreach (string problem in TemporalTeaCacheProblems()) yield return problem;
            yield break;
        }
        // TeaCache decides every step itself; AccelAes's own components would fight over the same steps.
        if (MaskStep is not null) yield return "mask_step: teacache has no AesMask; leave mask_step off.";
        if (Interval > 1) yield return "interval: teacache decides which steps to skip itself; leave interval at 1.";
    }

    /// <summary>temporal=teacache: TeaCache replaces StepCache in AccelAes's loop, so StepCache's knobs would be ignored.</summary>
    private IEnumerable<string> TemporalTeaCacheProblems()
    {
        if (UsesCachePolicy)
        {
            yield return $"temporal: replaces StepCache in AccelAes's sampling loop; --accel {PresetName(Preset)} decides every step itself (use --accel accelaes).";
            yield break;
        }
        if (Interval > 1) yield return "interval: temporal=teacache decides which steps reuse the cache itself; interval is StepCache's stride (temporal=stepcache).";
        if (Warmup > 0) yield return "warmup: temporal=teacache has no warmup (its first and last steps always compute); warmup is StepCache's (temporal=stepcache).";
        if (Extrapolation != ExtrapolationRule.LinearInSigma)
            yield return "extrapolation: temporal=teacache reuses the cached residual instead of extrapolating; extrapolation is StepCache's (temporal=stepcache).";
    }

    /// <summary>The largest <c>residual_diff_threshold</c>: a relative difference; far above, every step after the first reuses.</summary>
    private const double MaxResidualDiffThreshold = 1e6;

    /// <summary>FBCache's and FORA's knobs, and what they share with TeaCache: one policy owns every step.</summary>
    private IEnumerable<string> CachePolicyProblems()
    {
        if (!(ResidualDiffThreshold >= 0 && ResidualDiffThreshold <= MaxResidualDiffThreshold))
            yield return $"residual_diff_threshold: must be a number between 0 and {MaxResidualDiffThreshold}, got {ResidualDiffThreshold}.";
        if (Preset != AccelerationPreset.FbCache && ResidualDiffThreshold != DefaultResidualDiffThreshold)
            yield return "residual_diff_threshold: only --accel fbcache uses it.";
        if (TaylorOrder < 0 || TaylorOrder > MaxTaylorOrder)
            yield return $"max_order: must be between 0 and {MaxTaylorOrder}, got {TaylorOrder}.";
        if (Preset != AccelerationPreset.TaylorSeer && TaylorOrder != DefaultTaylorOrder)
            yield return "max_order: only --accel taylorseer uses it.";
        if (Preset is not (AccelerationPreset.FbCache or AccelerationPreset.Fora or AccelerationPreset.TaylorSeer or AccelerationPreset.DeltaDit)) yield break;
        string name = PresetName(Preset);
        if (MaskStep is not null) yield return $"mask_step: {name} has no AesMask; leave mask_step off.";
        if (Preset == AccelerationPreset.FbCache && Interval > 1)
            yield return "interval: fbcache decides which steps to reuse itself; leave interval at 1.";
        if (Preset == AccelerationPreset.TaylorSeer && Warmup < 1)
            yield return "warmup: taylorseer's first_enhance computes at least step 0; set warmup ≥ 1 (default 3).";
        if (Preset == AccelerationPreset.Fora && Warmup > 0)
            yield return "warmup: fora's schedule is its interval alone (the first and every interval-th step from the last compute); leave warmup at 0.";
    }

    /// <summary>Δ-DiT's own knobs: in range, and only under --accel delta-dit.</summary>
    private IEnumerable<string> DeltaDitProblems()
    {
        if (DeltaDitCachedBlocks is int k && (k < 0 || k > MaxLayerIndex))
            yield return $"cached_blocks: must be between 0 and {MaxLayerIndex} blocks (or auto), got {k}.";
        if (DeltaDitBoundaryStep is int b && (b < 0 || b > Steps))
            yield return $"boundary_step: must be a step in [0, {Steps}] for {Steps} steps (or auto), got {b}.";
        bool deltaDit = Preset == AccelerationPreset.DeltaDit;
        if (!deltaDit && DeltaDitCachedBlocks is not null) yield return "cached_blocks: only --accel delta-dit uses it.";
        if (!deltaDit && DeltaDitBoundaryStep is not null) yield return "boundary_step: only --accel delta-dit uses it.";
        if (deltaDit && Warmup > 0)
            yield return "warmup: delta-dit's schedule is its interval alone (step 0 and every interval-th step compute); leave warmup at 0.";
    }

    /// <summary>RAS's knobs, and what it shares with the other policies: it owns every step.</summary>
    private IEnumerable<string> RasProblems()
    {
        if (Preset != AccelerationPreset.Ras)
        {
            foreach (var (knob, value) in Ras.KnobValues().Zip(RasSettings.Default.KnobValues()).Where(p => p.First.Value != p.Second.Value).Select(p => p.First))
                yield return $"{knob}: only --accel ras uses it.";
            yield break;
        }
        if (Backbone == Backbone.Flux)
            yield return "ras: runs on SD3 and Lumina-Next only: its authors published settings and code for those two (microsoft/RAS), none for FLUX.";
        foreach (string problem in Ras.Problems(Steps, InputLimits.MaxSteps)) yield return problem;
        if (MaskStep is not null) yield return "mask_step: ras has no AesMask; leave mask_step off.";
        if (Interval > 1) yield return "interval: ras computes every step (on fewer tokens); leave interval at 1.";
        if (Warmup > 0) yield return "warmup: ras's dense start is scheduler_start_step; leave warmup at 0.";
    }

    /// <summary>Returns this when valid; otherwise throws one <see cref="AccelAesException"/> listing every problem.</summary>
    public AccelerationOptions Validated()
    {
        var errors = Validate();
        if (errors.Count > 0)
            throw new AccelAesException($"Invalid acceleration options ({Backbone}): " + string.Join(" ", errors));
        return this;
    }

    /// <summary>The layers the capture runs on, for a model with <paramref name="layerCount"/> capturable layers.</summary>
    /// <exception cref="AccelAesException">An explicit layer is out of range (the message names the knob and the count).</exception>
    public int[] ResolveCaptureLayers(int layerCount)
    {
        if (layerCount < 1) throw new ArgumentOutOfRangeException(nameof(layerCount), layerCount, "a model has at least one layer");
        if (CaptureLayers is { } layers)
        {
            foreach (int l in layers)
            {
                if (l < 0 || l >= layerCount)
                    throw new AccelAesException($"layers: layer {l} does not exist; the model has {layerCount} capturable layers (0–{layerCount - 1}).");
            }

            return layers.Order().ToArray();
        }

        if (CaptureLayerStride < 1) throw new AccelAesException($"layers: the capture stride must be at least 1, got {CaptureLayerStride}.");
        return Enumerable.Range(0, (layerCount + CaptureLayerStride - 1) / CaptureLayerStride).Select(i => i * CaptureLayerStride).ToArray();
    }

    private static bool IsAuto(string v) => v.Equals("auto", StringComparison.OrdinalIgnoreCase);

    private static double[] Numbers(string knob, string v)
    {
        string[] parts = v.Split(',', StringSplitOptions.TrimEntries);
        if (parts.Length == 0 || parts.Any(p => p.Length == 0)) throw Bad(knob, v, "numbers separated by commas, highest power first (e.g. 498.65,-283.78,55.86,-3.82,0.264), or auto");
        return parts.Select(p => Number(knob, p)).ToArray();
    }

    private static bool IsOff(string v) => v.Equals("off", StringComparison.OrdinalIgnoreCase) || v.Equals("none", StringComparison.OrdinalIgnoreCase);

    private static int Int(string knob, string v) =>
        int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int r) ? r : throw Bad(knob, v, "an integer");

    private static double Number(string knob, string v) =>
        double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double r) ? r : throw Bad(knob, v, "a number");

    private static bool Bool(string knob, string v) => v.ToLowerInvariant() switch
    {
        "on" or "true" or "yes" or "1" => true,
        "off" or "false" or "no" or "0" => false,
        _ => throw Bad(knob, v, "on or off"),
    };

    private static AccelAesException Bad(string knob, string value, string expected) =>
        new($"{knob}: '{value}' is not valid; expected {expected}.");
}
