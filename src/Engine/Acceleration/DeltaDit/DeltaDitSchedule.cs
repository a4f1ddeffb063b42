namespace AccelAes.Engine.Acceleration.DeltaDit;

/// <summary>
/// Δ-DiT's static schedule (Chen et al. 2024, "Δ-DiT: A Training-Free Acceleration Method Tailored for Diffusion
/// Transformers", arXiv 2406.01125). The authors published no code (the paper says it "will be publicly available"; no
/// repository of theirs was found), so this follows the paper's method: its Δ-Cache stands in for a contiguous range of
/// N_c blocks by adding their deviation Δ = output − input, taken at the last step that ran every block, to this
/// step's own input of the range; the cache is refreshed every N steps; and the range is stage-adaptive: the front
/// blocks shape the image's outline and the rear blocks its details, so in the early (outline) steps the REAR blocks are
/// cached and after the boundary b the FRONT blocks. Knobs, named as the paper names them:
/// <list type="bullet">
/// <item><c>interval</c> (N): step k runs every block and refreshes Δ iff k mod N = 0 (step 0 first); 1 = dense.</item>
/// <item><c>cached_blocks</c> (N_c): the blocks Δ stands in for on the other steps; 0 = dense.</item>
/// <item><c>boundary_step</c> (b): steps k &lt; b cache the rear N_c blocks, steps k ≥ b the front N_c. The paper counts
/// b on the sampler's descending timestep index; here it is the forward step index at which the stage switches.</item>
/// </list>
/// The paper evaluates PIXART-α and DiT-XL (28 blocks each) only and gives no setting for FLUX, SD3 or Lumina-Next, so
/// the defaults are this engine's stated choices: N = 2; N_c = ⌊¾·blocks⌋, so a two-step period costs ½ + ½·¼ = ⅝ of
/// dense block compute, the 1.6× the paper reports for 20-step generation; b = ⌊steps / 2⌋ (the outline stage is the
/// first half of the trajectory).
/// </summary>
public sealed class DeltaDitSchedule
{
    /// <param name="interval">N: 1 computes every step.</param>
    /// <param name="cachedBlocks">N_c; null = ⌊¾·blocks⌋ of the model the run uses.</param>
    /// <param name="boundaryStep">b; null = ⌊steps / 2⌋.</param>
    /// <param name="steps">The run's step count.</param>
    public DeltaDitSchedule(int interval, int? cachedBlocks, int? boundaryStep, int steps)
    {
        if (interval < 1) throw new AccelAesException($"interval: Δ-DiT runs every block on every N-th step, N ≥ 1; got {interval}.");
        if (cachedBlocks < 0) throw new AccelAesException($"cached_blocks: a number of blocks, ≥ 0; got {cachedBlocks}.");
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), steps, "a run has at least one step");
        if (boundaryStep is int b && (b < 0 || b > steps))
            throw new AccelAesException($"boundary_step: a step in [0, {steps}] for {steps} steps; got {b}.");
        Interval = interval;
        CachedBlocksSetting = cachedBlocks;
        BoundaryStep = boundaryStep ?? steps / 2;
        Steps = steps;
    }

    public int Interval { get; }

    /// <summary>N_c as set, or null for the default share of the model's blocks (<see cref="CachedBlocks"/>).</summary>
    public int? CachedBlocksSetting { get; }

    public int BoundaryStep { get; }

    public int Steps { get; }

    /// <summary>The default N_c of a model with <paramref name="blockCount"/> blocks: three quarters, rounded down.</summary>
    public static int DefaultCachedBlocks(int blockCount) => 3 * blockCount / 4;

    /// <summary>N_c for a model with <paramref name="blockCount"/> blocks (FLUX: double- and single-stream together).</summary>
    /// <exception cref="AccelAesException">cached_blocks exceeds the model's blocks.</exception>
    public int CachedBlocks(int blockCount)
    {
        int k = CachedBlocksSetting ?? DefaultCachedBlocks(blockCount);
        if (k > blockCount)
            throw new AccelAesException($"cached_blocks: {k} is more than the model's {blockCount} transformer blocks (FLUX counts its double- " +
                                        $"and single-stream blocks together); set cached_blocks between 0 and {blockCount}.");
        return k;
    }

    /// <summary>True when step <paramref name="step"/> (0-based, forward order) runs every block and refreshes the deviations.</summary>
    public bool Computes(int step)
    {
        if (step < 0 || step >= Steps) throw new ArgumentOutOfRangeException(nameof(step), step, $"a step of {Steps}");
        return step % Interval == 0;
    }

    /// <summary>True when step <paramref name="step"/> is in the outline stage (before the boundary: rear blocks cached).</summary>
    public bool CachesRearBlocks(int step) => step < BoundaryStep;

    /// <summary>
    /// The blocks Δ stands in for at step <paramref name="step"/>, [First, End): empty on a computing step and with N_c = 0;
    /// the rear N_c blocks before the boundary, the front N_c from it on.
    /// </summary>
    public (int First, int End) CachedRange(int step, int blockCount)
    {
        int k = CachedBlocks(blockCount);
        if (Computes(step) || k == 0) return (0, 0);
        return CachesRearBlocks(step) ? (blockCount - k, blockCount) : (0, k);
    }

    /// <summary>The whole schedule for a model of <paramref name="blockCount"/> blocks: F where every block runs, X where Δ stands in for some.</summary>
    public StepKind[] Kinds(int blockCount) => Enumerable.Range(0, Steps)
        .Select(s => CachedRange(s, blockCount) is (0, 0) ? StepKind.Full : StepKind.Skip).ToArray();
}
