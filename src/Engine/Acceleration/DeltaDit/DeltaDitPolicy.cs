using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Acceleration.DeltaDit;

/// <summary>
/// Δ-DiT, one run's state (<see cref="DeltaDitSchedule"/> has the method and its sources): the embeddings and the
/// output layer run every step. A computing step runs every block and keeps two deviations (output − input), of the
/// front N_c blocks and of the rear N_c blocks, so a reusing step on either side of the boundary has the one it needs.
/// A reusing step runs the blocks outside its cached range on this step's streams and, for the cached range, adds the
/// stored deviation to this step's input of the range (Δ-Cache: the input is current, only the change is reused).
/// </summary>
public sealed class DeltaDitPolicy(DeltaDitSchedule schedule) : ICachePolicy
{
    private readonly ExecutedSteps _executed = new();
    private Tensor? _frontDeviation, _rearDeviation;

    public DeltaDitSchedule Schedule { get; } = schedule;

    public string Name => "delta-dit";

    /// <summary>Bytes held between steps (the two deviations).</summary>
    public long StateBytes => 4L * ((_frontDeviation?.Shape.ElementCount ?? 0) + (_rearDeviation?.Shape.ElementCount ?? 0));

    public Tensor Velocity(ISplitForward forward, int step)
    {
        int blocks = forward.BlockCount;
        var (first, end) = Schedule.CachedRange(step, blocks);
        bool computed = first == end;
        _executed.Record(step, computed);
        if (computed)
        {
            RunAllAndStoreDeviations(forward, blocks);
        }
        else
        {
            Tensor deviation = (first == 0 ? _frontDeviation : _rearDeviation)
                               ?? throw new InvalidOperationException($"Δ-DiT step {step} reuses blocks [{first}, {end}) before a step computed them.");
            if (first > 0) forward.RunBlockRange(0, first);
            forward.SkipBlockRange(first, end, deviation);
            if (end < blocks) forward.RunBlockRange(end, blocks);
        }
        return forward.Output(forward.ImageAfterBlockRanges());
    }

    /// <summary>Every block, in ranges cut where the front range ends and the rear range starts, keeping the states there.</summary>
    private void RunAllAndStoreDeviations(ISplitForward forward, int blocks)
    {
        int k = Schedule.CachedBlocks(blocks);
        if (k == 0)
        {
            forward.RunBlockRange(0, blocks);
            return;
        }
        int frontEnd = k, rearStart = blocks - k;
        int[] cuts = new[] { 0, frontEnd, rearStart, blocks }.Distinct().Order().ToArray();
        var states = new Dictionary<int, Tensor> { [0] = forward.BlockStates() };
        for (int i = 1; i < cuts.Length; i++)
        {
            forward.RunBlockRange(cuts[i - 1], cuts[i]);
            states[cuts[i]] = forward.BlockStates();
        }
        IBackend be = states[0].Backend;
        _frontDeviation = be.Add(states[frontEnd], be.Scale(states[0], -1f));
        _rearDeviation = be.Add(states[blocks], be.Scale(states[rearStart], -1f));
    }

    public AcceleratedRunReport Report(SigmaSchedule sigmas) => _executed.Report(sigmas, StateBytes);
}
