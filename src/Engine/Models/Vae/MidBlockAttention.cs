using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Vae;

/// <summary>
/// diffusers <c>Attention</c> as <c>UNetMidBlock2D</c> builds it for the VAE (attention_processor.py with
/// <c>AttnProcessor2_0</c>): one head of all C channels over the H·W pixels, a GroupNorm on the input
/// (<c>norm_num_groups</c>, eps 1e-6), biased q/k/v/out projections, scale 1/√C, and the residual added back
/// (<c>residual_connection=True</c>, <c>rescale_output_factor</c> 1).
///
/// Checkpoints saved before diffusers 0.14 name the projections <c>query</c>, <c>key</c>, <c>value</c> and
/// <c>proj_attn</c> (the old <c>AttentionBlock</c>); diffusers renames them tensor by tensor on load
/// (<c>_fix_state_dict_keys_on_load</c>), and so does this class.
/// </summary>
public sealed class MidBlockAttention
{
    private readonly GroupNormLayer _groupNorm;
    private readonly LinearLayer _toQ, _toK, _toV, _toOut;
    private readonly int _channels;

    public MidBlockAttention(WeightReader w, int channels, int groups, float eps)
    {
        _channels = channels;
        _groupNorm = new GroupNormLayer(w, "group_norm", channels, groups, eps);
        _toQ = LoadProjection(w, "to_q", "query", channels);
        _toK = LoadProjection(w, "to_k", "key", channels);
        _toV = LoadProjection(w, "to_v", "value", channels);
        _toOut = LoadProjection(w, "to_out.0", "proj_attn", channels);
    }

    /// <summary>x [B, C, H, W] → x + attention(x), same shape.</summary>
    public Tensor Forward(Tensor x)
    {
        IBackend be = x.Backend;
        int batch = x.Shape[0], height = x.Shape[2], width = x.Shape[3], pixels = height * width;
        // [B, C, H·W] → tokens [B, H·W, C]; GroupNorm is the same on either view of the channels.
        Tensor tokens = be.TransposeLast2(_groupNorm.Forward(x).Reshape(batch, _channels, pixels));
        Tensor q = _toQ.Forward(tokens).Reshape(batch, pixels, 1, _channels);
        Tensor k = _toK.Forward(tokens).Reshape(batch, pixels, 1, _channels);
        Tensor v = _toV.Forward(tokens).Reshape(batch, pixels, 1, _channels);
        Tensor attended = be.Attention(q, k, v, 1f / MathF.Sqrt(_channels)).Reshape(batch, pixels, _channels);
        Tensor projected = be.TransposeLast2(_toOut.Forward(attended)).Reshape(batch, _channels, height, width);
        return be.Add(projected, x);
    }

    /// <summary>Weight and bias each under the current name if present, else under the legacy one.</summary>
    private static LinearLayer LoadProjection(WeightReader w, string name, string legacyName, int channels)
    {
        Tensor weight = w.Get(Resolve(w, name, legacyName, "weight"), channels, channels);
        Tensor bias = w.Get(Resolve(w, name, legacyName, "bias"), channels);
        return LinearLayer.FromTensors(weight, bias);
    }

    private static string Resolve(WeightReader w, string name, string legacyName, string leaf)
        => !w.Has($"{name}.{leaf}") && w.Has($"{legacyName}.{leaf}") ? $"{legacyName}.{leaf}" : $"{name}.{leaf}";
}
