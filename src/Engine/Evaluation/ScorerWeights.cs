using AccelAes.Engine.Weights;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Engine.Evaluation;

/// <summary>
/// Opens a scorer's single weight file (the LAION aesthetic head, a reward head) as an <see cref="IWeightSource"/>,
/// whatever format its authors published it in. This is the one place a new format is added: the PyTorch
/// checkpoint reader (src/Loader/PyTorch, torch.load(weights_only=True) rules) plugs in here for .pt / .pth / .bin.
/// </summary>
public static class ScorerWeights
{
    /// <summary>
    /// Calls <paramref name="build"/> with the weights of <paramref name="path"/> open; the file is closed afterwards
    /// (models copy their weights onto the backend while they are built).
    /// </summary>
    public static T With<T>(string path, Func<IWeightSource, T> build)
    {
        string extension = Path.GetExtension(path).ToLowerInvariant();
        switch (extension)
        {
            case ".safetensors":
                using (var set = SafeTensorsSet.OpenFile(path))
                    return build(new SafeTensorsWeightSource(set, set.Source));
            case ".pt" or ".pth" or ".bin" or ".ckpt":
                throw new AccelAesException(
                    $"'{path}' is a PyTorch checkpoint; reading those is not available yet. Convert it to .safetensors " +
                    "(safetensors.torch.save_file(torch.load(path, weights_only=True), out)) or use the published .safetensors.");
            default:
                throw new AccelAesException($"'{path}': weights must be a .safetensors file (or a PyTorch .pt / .pth / .bin checkpoint).");
        }
    }
}
