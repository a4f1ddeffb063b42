using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Lumina;

/// <summary>
/// diffusers <c>LuminaPatchEmbed</c>: each p×p patch is flattened in <b>(c, ph, pw)</b> order (architectures.md
/// pitfall 3: the output side unpatchifies in (ph, pw, c)) and projected by a Linear <c>proj</c> [D, C·p·p];
/// tokens are row-major over the (H/p)×(W/p) grid. diffusers also crops the RoPE table to the grid here; the
/// model does that (<see cref="LuminaRotaryTable.Crop"/>) so it can keep the cropped table on the device.
/// The all-ones self-attention mask diffusers also returns is not materialised: it masks nothing.
/// </summary>
public sealed class LuminaPatchEmbed
{
    private readonly LinearLayer _proj;
    private readonly int _patch;

    public LuminaPatchEmbed(WeightReader w, int patchSize, int inChannels, int embedDim)
    {
        _patch = patchSize;
        _proj = LinearLayer.Load(w, "proj", patchSize * patchSize * inChannels, embedDim);
    }

    /// <summary>latent [B, C, H, W] → tokens [B, (H/p)·(W/p), D].</summary>
    public Tensor Forward(Tensor latent)
        => _proj.Forward(latent.Backend.Patchify(latent, _patch, PatchLayout.ChannelMajor));
}
