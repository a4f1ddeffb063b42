using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.Sd3;

/// <summary>
/// diffusers <c>PatchEmbed</c> as SD3 configures it: a p×p stride-p conv (computed as patchify in (c, ph, pw)
/// order + GEMM, which is the same sum), then the stored sin-cos table centre-cropped to the token grid.
/// </summary>
public sealed class Sd3PatchEmbed
{
    private readonly LinearLayer _proj;
    private readonly Tensor _positionTable; // [max, max, D]
    private readonly int _patch, _maxSize, _dim;

    public Sd3PatchEmbed(WeightReader w, Sd3TransformerConfig config)
    {
        _patch = config.PatchSize;
        _maxSize = config.PosEmbedMaxSize;
        _dim = config.InnerDim;
        int features = config.InChannels * _patch * _patch;
        Tensor convWeight = w.Get("proj.weight", _dim, config.InChannels, _patch, _patch);
        _proj = LinearLayer.FromTensors(convWeight.Reshape(_dim, features), w.Get("proj.bias", _dim));
        Tensor? stored = w.GetOptional("pos_embed", 1, _maxSize * _maxSize, _dim);
        _positionTable = stored is not null
            ? stored.Reshape(_maxSize, _maxSize, _dim)
            : w.Backend.Upload(SinCosPositionTable.Create(_dim, _maxSize, config.SampleSize / _patch), new Shape(_maxSize, _maxSize, _dim));
    }

    /// <summary>latent [B, C, H, W] → tokens [B, (H/p)(W/p), D] with positions added.</summary>
    public Tensor Forward(Tensor latent)
    {
        IBackend be = latent.Backend;
        int gh = latent.Shape[2] / _patch, gw = latent.Shape[3] / _patch;
        if (gh > _maxSize || gw > _maxSize)
            throw new AccelAesException(
                $"SD3: a {gh}×{gw} token grid is larger than the position table ({_maxSize}×{_maxSize}, pos_embed_max_size); use a smaller image.");
        Tensor tokens = _proj.Forward(be.Patchify(latent, _patch, PatchLayout.ChannelMajor));
        int top = (_maxSize - gh) / 2, left = (_maxSize - gw) / 2;
        Tensor crop = be.Slice(be.Slice(_positionTable, 0, top, gh), 1, left, gw).Reshape(gh * gw, _dim);
        return be.Add(tokens, crop);
    }
}
