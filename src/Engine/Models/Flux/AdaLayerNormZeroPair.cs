using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Flux;

/// <summary>
/// A FLUX double block's two <c>AdaLayerNormZero</c>s, <c>norm1</c> (image) and <c>norm1_context</c> (text): both are
/// <c>linear(SiLU(temb))</c> on the same input, so their weights are joined by rows at load (<see cref="JoinedLinear"/>)
/// and a step runs one modulation GEMM per block instead of two (issue 16: FLUX's launches). The [B, 12·D] output is
/// split into the image's six chunks and the text's six, in <see cref="AdaLayerNormZero"/>'s order; the values are the
/// two Linears'. Each stream is LayerNorm'd (no affine, eps 1e-6) and modulated with its shift_msa and scale_msa.
/// </summary>
public sealed class AdaLayerNormZeroPair
{
    private const int Chunks = 6;

    private readonly LinearLayer _linear;

    public AdaLayerNormZeroPair(WeightReader image, WeightReader text, int dim)
        => _linear = JoinedLinear.ByRows(image.Backend,
            LinearLayer.Load(image, "linear", dim, Chunks * dim), LinearLayer.Load(text, "linear", dim, Chunks * dim));

    /// <summary>The modulation chunks of both streams and each stream's normalised, modulated input of the attention.</summary>
    /// <param name="siluTemb">SiLU(temb) [B, D], computed once per forward and shared by every block.</param>
    public (Modulation Image, Tensor NormedImage, Modulation Text, Tensor NormedText) Forward(Tensor image, Tensor text, Tensor siluTemb)
    {
        var (mod, cmod) = Modulations(siluTemb);
        IBackend be = image.Backend;
        return (mod, Modulated(be, image, mod), cmod, Modulated(be, text, cmod));
    }

    /// <summary>The image stream's normalised, modulated input (TeaCache's signal); the GEMM computes the text chunks too.</summary>
    public Tensor ModulatedImageInput(Tensor image, Tensor siluTemb) => Modulated(image.Backend, image, Modulations(siluTemb).Image);

    /// <summary>The modulation chunks alone (no LayerNorm of the inputs): what a block that reuses cached outputs needs.</summary>
    public (Modulation Image, Modulation Text) Modulations(Tensor siluTemb)
    {
        Modulation[] parts = Modulation.SplitJoined(_linear.Forward(siluTemb), Chunks, 2);
        return (parts[0], parts[1]);
    }

    private static Tensor Modulated(IBackend be, Tensor x, Modulation mod)
        => be.LayerNormModulate(x, 1e-6f, mod[AdaLayerNormZero.ScaleMsa], mod[AdaLayerNormZero.ShiftMsa]);
}
