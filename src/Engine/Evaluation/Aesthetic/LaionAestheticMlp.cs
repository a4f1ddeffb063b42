using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Evaluation.Aesthetic;

/// <summary>
/// The LAION improved aesthetic predictor v2's <c>MLP</c> (christophschuhmann/improved-aesthetic-predictor,
/// simple_inference.py at 6934dd81): <c>layers = Sequential(Linear(d, 1024), Dropout, Linear(1024, 128), Dropout,
/// Linear(128, 64), Dropout, Linear(64, 16), Linear(16, 1))</c>. The published head has its ReLUs commented out,
/// so it is five affine maps in a row; they are kept as five GEMMs (not folded into one) so the arithmetic follows
/// the reference's order. Dropout is the identity at inference. Keys <c>layers.{0,2,4,6,7}.{weight,bias}</c>, as in
/// <c>sac+logos+ava1-l14-linearMSE.pth</c>.
/// </summary>
public sealed class LaionAestheticMlp
{
    private static readonly (int Index, int Out)[] Layers = [(0, 1024), (2, 128), (4, 64), (6, 16), (7, 1)];
    private readonly LinearLayer[] _layers;

    /// <param name="inputSize">The CLIP embedding width (768 for ViT-L/14).</param>
    public LaionAestheticMlp(WeightReader w, int inputSize)
    {
        InputSize = inputSize;
        Backend = w.Backend;
        _layers = new LinearLayer[Layers.Length];
        int width = inputSize;
        for (int i = 0; i < Layers.Length; i++)
        {
            _layers[i] = LinearLayer.Load(w, $"layers.{Layers[i].Index}", width, Layers[i].Out);
            width = Layers[i].Out;
        }
    }

    public int InputSize { get; }
    public IBackend Backend { get; }

    /// <summary>Normalised embeddings [B, d] → scores [B, 1].</summary>
    public Tensor Forward(Tensor x)
    {
        foreach (LinearLayer layer in _layers) x = layer.Forward(x);
        return x;
    }
}
