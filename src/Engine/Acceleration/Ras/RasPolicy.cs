using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Acceleration.Ras;

/// <summary>
/// RAS (region-adaptive sampling), one run's state, as the official code runs it (microsoft/RAS at commit
/// a9c5ec8fb2147ef450a7e3b5ec3b7bdd0006de3f; <see cref="RasStepSchedule"/>, <see cref="RasTokenSelection"/>,
/// <see cref="RasKeyValueCache"/>):
/// <list type="bullet">
/// <item>a dense step runs every block; the one before the first RAS step and each error-reset step also store every
/// layer's image keys and values;</item>
/// <item>a RAS step runs every block on its active tokens only (chosen after the previous step from that step's update);
/// their attention reads the cached keys and values, refreshed with the active tokens' own; the output layer's rows
/// of the active tokens replace theirs in the previous step's model output, the dropped tokens keep it (official
/// <c>model_output[:, cached_index] = cached_scaled_noise</c>).</item>
/// </list>
/// The reuse is per CFG branch: guidance is linear per pixel, so a dropped token's guided velocity is exactly the
/// previous step's guided one, as in the official code, which reuses after guidance.
/// </summary>
public sealed class RasPolicy : ICachePolicy, IVelocityObserver
{
    private readonly int _steps;
    private readonly RasKeyValueCache _keyValues = new();
    private readonly SparseForward _tokens;
    private readonly List<StepKind> _kinds = [];
    private readonly List<int> _active = [];
    private RasStepSchedule? _schedule;
    private RasTokenSelection? _selection;
    private Tensor? _previous;
    private int[]? _next;
    private int _patch;
    private long _peakBytes;

    public RasPolicy(RasSettings settings, int steps)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), steps, "a run has at least one step");
        Settings = settings;
        _steps = steps;
        _tokens = new SparseForward { KeyValues = _keyValues };
    }

    public RasSettings Settings { get; }

    public string Name => "ras";

    /// <summary>The run's schedule (known once the first step gave the token count).</summary>
    public RasStepSchedule? Schedule => _schedule;

    /// <summary>The token choice (drop counts), once the first step gave the grid.</summary>
    public RasTokenSelection? Selection => _selection;

    /// <summary>The tokens computed at each step so far.</summary>
    public IReadOnlyList<int> ActiveTokens => _active;

    public Tensor Velocity(ISplitForward forward, int step)
    {
        if (step != _kinds.Count) throw new InvalidOperationException($"RAS runs steps in order: expected step {_kinds.Count}, got {step}.");
        int tokens = forward.Image.Shape[1];
        _schedule ??= new RasStepSchedule(Settings, _steps, tokens);
        IBackend be = forward.Image.Backend;
        Tensor v;
        if (_schedule.IsRasStep(step))
        {
            int[] active = _next ?? throw new InvalidOperationException($"RAS step {step} has no token choice (the previous step's velocity was not observed).");
            _tokens.SetFocus(active, tokens);
            _keyValues.Mode = RasKeyValueMode.Merge;
            Tensor fresh = forward.Output(forward.RunBlocks(_tokens));
            v = MergeIntoPrevious(fresh);
            _kinds.Add(StepKind.Sparse);
            _active.Add(active.Length);
        }
        else if (_schedule.FillsCaches(step))
        {
            _tokens.SetFocus(null, tokens);
            _keyValues.Mode = RasKeyValueMode.Fill;
            v = forward.Output(forward.RunBlocks(_tokens));
            _kinds.Add(StepKind.FullFillCache);
            _active.Add(tokens);
        }
        else
        {
            v = forward.Output(forward.RunBlocks());
            _kinds.Add(StepKind.Full);
            _active.Add(tokens);
        }
        _keyValues.Mode = RasKeyValueMode.Off;
        _next = null;
        if (_patch == 0) _patch = PatchSize(v, tokens);
        _previous?.Dispose();
        _previous = be.Copy(v); // the next RAS step's dropped tokens keep these rows
        _peakBytes = Math.Max(_peakBytes, _keyValues.Bytes + 4L * _previous.Shape.ElementCount);
        return v;
    }

    /// <summary>After step <paramref name="step"/>: when the next step is a RAS step, ranks the tokens by this step's update and picks them.</summary>
    public void Observe(int step, Tensor velocity, SigmaSchedule sigmas)
    {
        if (_schedule is null || step + 1 >= _steps || !_schedule.IsRasStep(step + 1)) return;
        if (velocity.Shape.Rank != 4 || velocity.Shape[0] != 1)
            throw new AccelAesException($"ras: picks one set of tokens per step from one image's velocity (the official code runs one image); " +
                                        $"the velocity {velocity.Shape} holds {velocity.Shape[0]}: give one prompt at a time.");
        int channels = velocity.Shape[1], height = velocity.Shape[2], width = velocity.Shape[3];
        _selection ??= new RasTokenSelection(Settings, height / _patch, width / _patch, _steps);
        float[] values = velocity.Backend.Download(velocity);
        _next = _selection.Select(values, channels, height, width, sigmas.StepSize(step), _schedule.Dropped(step + 1));
    }

    public AcceleratedRunReport Report(SigmaSchedule sigmas)
    {
        _keyValues.Release();
        _tokens.Release();
        _previous?.Dispose();
        _previous = null;
        int tokens = _schedule?.Tokens ?? 1;
        int[] sparse = Enumerable.Range(0, _kinds.Count).Where(i => _kinds[i] == StepKind.Sparse).ToArray();
        double sparseCost = sparse.Length == 0 ? 1 : sparse.Average(i => (double)_active[i] / tokens);
        var schedule = StepSchedule.Executed(_kinds, sigmas.Sigmas, sparseCost);
        return new AcceleratedRunReport(schedule, null, [.. Enumerable.Range(0, _kinds.Count)], sparse.Length, 0, _peakBytes, [.. _active]);
    }

    /// <summary>The previous step's model output with the active tokens' patches replaced by <paramref name="fresh"/>'s.</summary>
    private Tensor MergeIntoPrevious(Tensor fresh)
    {
        Tensor previous = _previous ?? throw new InvalidOperationException("A RAS step needs the previous step's output.");
        IBackend be = fresh.Backend;
        int channels = fresh.Shape[1], height = fresh.Shape[2], width = fresh.Shape[3];
        // Patch tokens of any layout: patchify then unpatchify with the same one moves every value back where it was.
        using Tensor merged = be.Patchify(previous, _patch, PatchLayout.ChannelMinor);
        using Tensor freshTokens = be.Patchify(fresh, _patch, PatchLayout.ChannelMinor);
        using Tensor rows = SparseRows.Gather(_tokens, freshTokens);
        ActiveRows.ScatterInto(_tokens, merged, rows);
        return be.Unpatchify(merged, channels, height, width, _patch, PatchLayout.ChannelMinor);
    }

    /// <summary>The patch side p of a model output [B, C, H, W] over <paramref name="tokens"/> tokens (H·W = N·p²).</summary>
    private static int PatchSize(Tensor output, int tokens)
    {
        int pixels = output.Shape[2] * output.Shape[3];
        int p = (int)Math.Round(Math.Sqrt(pixels / (double)tokens));
        if (p < 1 || p * p * tokens != pixels || output.Shape[2] % p != 0 || output.Shape[3] % p != 0)
            throw new InvalidOperationException($"RAS: a {output.Shape} output does not tile into {tokens} square patches.");
        return p;
    }
}
