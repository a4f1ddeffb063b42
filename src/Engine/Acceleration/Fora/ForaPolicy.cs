using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Acceleration.Fora;

/// <summary>
/// FORA, one run's state: the embeddings run every step (as in the official DiT forward); on a
/// step the <see cref="ForaSchedule"/> computes, every block runs and stores its attention and MLP outputs; on the
/// others every block adds the stored outputs through this step's adaLN gates (<see cref="BlockOutputCache"/>).
/// </summary>
public sealed class ForaPolicy(ForaSchedule schedule) : ICachePolicy
{
    private readonly ExecutedSteps _executed = new();
    private readonly BlockOutputCache _outputs = new();

    public ForaSchedule Schedule { get; } = schedule;

    public string Name => "fora";

    public Tensor Velocity(ISplitForward forward, int step)
    {
        bool compute = Schedule.Computes(step);
        _outputs.BeginStep(step, compute);
        _executed.Record(step, compute);
        return forward.Output(forward.RunBlocks(_outputs));
    }

    public AcceleratedRunReport Report(SigmaSchedule sigmas) => _executed.Report(sigmas, _outputs.Bytes);
}
