using AccelAes.Engine.Models.Vae;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Components;

/// <summary>
/// <c>AutoencoderKL.decode(z)</c> → <c>sample</c> (what <c>vae.decode(z).sample</c> returns). <c>z</c> is the
/// decoder input, i.e. the latents after the pipeline's un-scaling (<see cref="Pipelines.VaeDecoding"/>).
/// </summary>
public sealed class AutoencoderKLComponent(AutoencoderKL model) : IComponentForward
{
    public AutoencoderKL Model { get; } = model;

    public string ClassName => AutoencoderKLConfig.ClassName;

    public IReadOnlyList<ForwardInput> Inputs { get; } =
    [
        new("z", true, "decoder input [B, latent_channels, h, w] (latents / scaling_factor + shift_factor)",
            $"[B, {model.Config.LatentChannels}, h, w]"),
    ];

    public IReadOnlyDictionary<string, Tensor> Forward(IReadOnlyDictionary<string, Tensor> inputs)
    {
        inputs = ForwardInputs.Bind(this, inputs);
        return new Dictionary<string, Tensor> { ["sample"] = Model.Decode(inputs["z"]) };
    }

    /// <summary>
    /// A checkpoint's unused tensors minus the encoder's: a decode-only model leaves those on purpose, so only
    /// the rest says the checkpoint does not match its config.
    /// </summary>
    public static IReadOnlyList<string> UnexpectedUnused(IReadOnlyList<string> unused)
        => unused.Where(n => !AutoencoderKL.IsEncoderTensor(n)).ToList();
}
