using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.ImageReward;

/// <summary>
/// timm <c>PatchEmbed</c> as BLIP's ViT uses it (ImageReward/models/BLIP/vit.py, THUDM/ImageReward c1392c6dd0fd6ecd6d416c96959ab744a6d0a8fb): a p×p stride-p
/// conv <c>proj</c> then <c>flatten(2).transpose(1, 2)</c>, no norm. Computed as patchify in (c, ph, pw) order + GEMM,
/// which is the same sum as the conv and runs as one GEMM on the GPU.
/// </summary>
public sealed class BlipPatchEmbed
{
    private readonly LinearLayer _proj;
    private readonly int _patch;

    public BlipPatchEmbed(WeightReader w, BlipVisionConfig config)
    {
        _patch = config.PatchSize;
        Tensor convWeight = w.Get("proj.weight", config.Width, config.InChannels, _patch, _patch);
        _proj = LinearLayer.FromTensors(convWeight.Reshape(config.Width, config.InChannels * _patch * _patch), w.Get("proj.bias", config.Width));
    }

    /// <summary>pixels [B, C, H, W] → patch tokens [B, (H/p)(W/p), width], row-major over the patch grid.</summary>
    public Tensor Forward(Tensor pixels) => _proj.Forward(pixels.Backend.Patchify(pixels, _patch, PatchLayout.ChannelMajor));
}
