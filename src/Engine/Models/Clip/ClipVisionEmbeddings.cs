using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.Clip;

/// <summary>
/// transformers <c>CLIPVisionEmbeddings</c> (modeling_clip.py, d6751d91): a p×p stride-p conv without bias over
/// the image (computed as patchify in (c, ph, pw) order + GEMM: the conv weight flattened in that order gives the same
/// sum), patches row-major, the learned <c>class_embedding</c> prepended, and <c>position_embedding</c> rows
/// 0 … N added. The <c>position_ids</c> buffer is an arange and is not read.
/// </summary>
public sealed class ClipVisionEmbeddings
{
    private readonly LinearLayer _patchEmbedding;
    private readonly Tensor _classEmbedding;      // [1, 1, D]
    private readonly Tensor _positionEmbedding;   // [N + 1, D]
    private readonly ClipVisionConfig _config;

    public ClipVisionEmbeddings(WeightReader w, ClipVisionConfig config)
    {
        _config = config;
        int d = config.HiddenSize, c = config.NumChannels, p = config.PatchSize;
        Tensor convWeight = w.Get("patch_embedding.weight", d, c, p, p);
        _patchEmbedding = LinearLayer.FromTensors(convWeight.Reshape(d, c * p * p), null);
        _classEmbedding = w.Get("class_embedding", d).Reshape(1, 1, d);
        _positionEmbedding = w.Get("position_embedding.weight", config.NumPositions, d);
    }

    /// <summary>pixel_values [B, C, S, S] (S = image_size) → [B, 1 + (S/p)², D].</summary>
    public Tensor Forward(Tensor pixelValues)
    {
        RequireInputSize(pixelValues.Shape);
        IBackend be = pixelValues.Backend;
        int batch = pixelValues.Shape[0];
        Tensor pixels = pixelValues;
        int usable = _config.PatchesPerSide * _config.PatchSize;
        // Conv2d without padding ignores the last image_size mod patch_size rows and columns.
        if (usable != _config.ImageSize)
            pixels = be.Slice(be.Slice(pixels, 2, 0, usable), 3, 0, usable);
        Tensor patches = _patchEmbedding.Forward(be.Patchify(pixels, _config.PatchSize, PatchLayout.ChannelMajor));
        Tensor classTokens = batch == 1 ? _classEmbedding : be.Concat(0, Enumerable.Repeat(_classEmbedding, batch).ToArray());
        return be.Add(be.Concat(1, classTokens, patches), _positionEmbedding);
    }

    /// <summary>
    /// The position table has one row per patch of an image_size × image_size input, and transformers adds it
    /// whole, so any other size fails there; here it fails first, naming the sizes.
    /// </summary>
    private void RequireInputSize(Shape shape)
    {
        int s = _config.ImageSize;
        if (shape.Rank != 4 || shape[1] != _config.NumChannels || shape[2] != s || shape[3] != s)
            throw new ModelInputException("pixel_values",
                $"Input 'pixel_values' has shape {shape}; the CLIP vision tower takes [B, {_config.NumChannels}, {s}, {s}] " +
                $"(num_channels, image_size of its config): preprocess the image to {s}×{s}.");
    }
}
