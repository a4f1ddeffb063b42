using AccelAes.Engine.Weights;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Engine.Evaluation;

/// <summary>
/// Opens a scorer's single weight file (the LAION aesthetic head, a reward head) as an <see cref="IWeightSource"/>,
/// in whatever format its authors published it: <c>.safetensors</c>, or a PyTorch <c>.pt</c> / <c>.pth</c> /
/// <c>.bin</c> state dict, which <see cref="SafeTensorsSet.OpenFile"/> reads under torch.load(weights_only=True)'s
/// rules (src/Loader/PyTorch).
/// </summary>
public static class ScorerWeights
{
    /// <summary>
    /// Calls <paramref name="build"/> with the weights of <paramref name="path"/> open; the file is closed afterwards
    /// (models copy their weights onto the backend while they are built).
    /// </summary>
    public static T With<T>(string path, Func<IWeightSource, T> build)
    {
        using var set = SafeTensorsSet.OpenFile(path);
        return build(new SafeTensorsWeightSource(set, set.Source));
    }
}
