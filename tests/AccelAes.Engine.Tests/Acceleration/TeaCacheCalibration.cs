using AccelAes.Engine.Acceleration.Policies;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Acceleration.TeaCache;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;
using MathNet.Numerics;

namespace AccelAes.Engine.Tests.Acceleration;

/// <summary>
/// The TeaCache authors' coefficient fit (ali-vilab/TeaCache issue #2: "np.polyfit(x, y, 4)", every step of dense runs):
/// a policy that computes every step and records, between consecutive steps, x = relative L1 change of block 0's
/// modulated input and y = relative L1 change of the transformer output (the whole batch, CFG branches included).
/// </summary>
internal sealed class TeaCacheCalibration : ICachePolicy
{
    private readonly RelativeL1Distance _distance = new();
    private Tensor? _previousModulated, _previousOutput;

    public List<double> InputChanges { get; } = [];

    public List<double> OutputChanges { get; } = [];

    public string Name => "teacache-calibration";

    public Tensor Velocity(ISplitForward forward, int step)
    {
        IBackend be = forward.Image.Backend;
        Tensor modulated = be.Copy(forward.FirstBlockModulatedInput());
        Tensor output = forward.Output(forward.RunBlocks());
        if (step > 0)
        {
            InputChanges.Add(_distance.Compute(modulated, _previousModulated!));
            OutputChanges.Add(_distance.Compute(output, _previousOutput!));
        }
        _previousModulated = modulated;
        _previousOutput = be.Copy(output);
        return output;
    }

    public AcceleratedRunReport Report(SigmaSchedule sigmas) => throw new NotSupportedException("A calibration run reports its pairs.");

    /// <summary><c>np.polyfit(x, y, degree)</c>: least squares, coefficients highest power first (np.poly1d's order).</summary>
    public static double[] PolyFit(IReadOnlyList<double> x, IReadOnlyList<double> y, int degree)
    {
        double[] lowestFirst = Fit.Polynomial([.. x], [.. y], degree);
        return [.. lowestFirst.Reverse()];
    }
}
