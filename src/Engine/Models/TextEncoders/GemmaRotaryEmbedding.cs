using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Models.TextEncoders;

/// <summary>
/// transformers <c>GemmaRotaryEmbedding</c>: <c>inv_freq[i] = 1 / θ^(2i/head_dim)</c> and angles
/// <c>position · inv_freq[i]</c>, each step in fp32 as torch computes it (the angles reach a few hundred radians,
/// where one ulp of the angle shows in cos/sin). transformers concatenates the table with itself and rotates with
/// <c>rotate_half</c>; that is <see cref="RotaryPairing.Halves"/> over one half-width table.
/// </summary>
public sealed class GemmaRotaryEmbedding
{
    private readonly float[] _invFreq;

    public GemmaRotaryEmbedding(int headDim, double ropeTheta)
    {
        _invFreq = new float[headDim / 2];
        float theta = (float)ropeTheta;
        for (int i = 0; i < _invFreq.Length; i++)
        {
            float exponent = (float)(2 * i) / headDim;
            _invFreq[i] = 1f / (float)Math.Pow(theta, exponent);
        }
    }

    /// <summary>cos and sin tables [seqLen, head_dim/2] for positions 0 … seqLen−1 (GemmaModel's default position_ids).</summary>
    public (Tensor Cos, Tensor Sin) Tables(IBackend backend, int seqLen)
    {
        int half = _invFreq.Length;
        var cos = new float[seqLen * half];
        var sin = new float[seqLen * half];
        for (int p = 0; p < seqLen; p++)
            for (int i = 0; i < half; i++)
            {
                float angle = p * _invFreq[i];
                cos[p * half + i] = (float)Math.Cos(angle);
                sin[p * half + i] = (float)Math.Sin(angle);
            }
        return (backend.Upload(cos, new Shape(seqLen, half)), backend.Upload(sin, new Shape(seqLen, half)));
    }
}
