using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.ImageReward;

/// <summary>
/// <c>MLP</c> of ImageReward/ImageReward.py (THUDM/ImageReward c1392c6dd0fd6ecd6d416c96959ab744a6d0a8fb), the module under <c>mlp</c>: <c>layers</c> is an
/// <c>nn.Sequential</c> whose Linear layers sit at indices 0, 2, 4, 6, 7 (Dropouts between them, the ReLUs commented out),
/// so the head is a chain of affine maps 768 → 1024 → 128 → 64 → 16 → 1 with nothing in between.
/// </summary>
public sealed class ImageRewardHead
{
    private readonly LinearLayer[] _layers;

    public ImageRewardHead(WeightReader w, IReadOnlyList<int> widths)
    {
        IReadOnlyList<int> indices = ImageRewardConfig.HeadLinearIndices;
        if (widths.Count != indices.Count + 1)
            throw new AccelAesException($"ImageReward head: {indices.Count} Linear layers need {indices.Count + 1} widths, got {widths.Count}.");
        _layers = new LinearLayer[indices.Count];
        for (int i = 0; i < indices.Count; i++)
            _layers[i] = LinearLayer.Load(w, $"layers.{indices[i]}", widths[i], widths[i + 1]);
    }

    /// <summary>features [B, 768] → raw rewards [B, 1].</summary>
    public Tensor Forward(Tensor features)
    {
        foreach (LinearLayer layer in _layers) features = layer.Forward(features);
        return features;
    }
}
