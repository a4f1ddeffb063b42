namespace AccelAes.Loader.SingleFile;

/// <summary>The key layout of a checkpoint file.</summary>
public enum CheckpointLayout
{
    /// <summary>diffusers' own parameter names (<c>transformer_blocks.0.attn.to_q.weight</c>): read as they are.</summary>
    Diffusers,
    /// <summary>Black Forest Labs' FLUX.1 layout (<c>double_blocks.N</c>, <c>single_blocks.N</c>, fused qkv / linear1).</summary>
    BflFlux,
    /// <summary>Stability AI's SD3 / SD3.5 layout (<c>joint_blocks.N</c>, fused qkv; VAE under <c>first_stage_model.</c>, text encoders under <c>text_encoders.</c>).</summary>
    SaiSd3,
    /// <summary>A text encoder or VAE file of its own, from a <c>--components</c> folder of single files (<see cref="ComponentFileKind"/>).</summary>
    ComponentFile,
}

/// <summary>How a checkpoint stores its weights.</summary>
public enum WeightEncoding
{
    /// <summary>F32 / F16 / BF16 only.</summary>
    Float,
    /// <summary>Some tensors are F8_E4M3 / F8_E5M2, decoded exactly (no scales).</summary>
    Fp8,
    /// <summary>ComfyUI "scaled fp8": fp8 codes times a per-tensor <c>&lt;module&gt;.scale_weight</c>.</summary>
    ScaledFp8,
    /// <summary>
    /// ComfyUI mixed precision: layers with a <c>&lt;module&gt;.comfy_quant</c> config hold fp8 codes times a per-tensor
    /// <c>weight_scale</c>, the others their float values (<see cref="ComfyQuantLayers"/>).
    /// </summary>
    ComfyMixedPrecision,
}

/// <summary>What <see cref="CheckpointFormatDetector"/> found in a file's keys and dtypes.</summary>
/// <param name="KeyPrefix">The ComfyUI / SAI prefix removed from keys (<c>model.diffusion_model.</c>), or empty.</param>
/// <param name="ComponentKind">For <see cref="CheckpointLayout.ComponentFile"/>, what the file holds.</param>
public sealed record CheckpointFormat(CheckpointLayout Layout, string KeyPrefix, WeightEncoding Encoding, ComponentFileKind? ComponentKind = null)
{
    /// <summary>For example "BFL FLUX.1 layout, ComfyUI prefix 'model.diffusion_model.', scaled fp8 (scale_weight)".</summary>
    public string Describe()
    {
        string layout = Layout switch
        {
            CheckpointLayout.BflFlux => "BFL FLUX.1 single-file layout",
            CheckpointLayout.SaiSd3 => "Stability AI SD3 / SD3.5 single-file layout",
            CheckpointLayout.ComponentFile => $"component file: {ComponentFileDetector.Describe(ComponentKind ?? ComponentFileKind.LdmVae)}",
            _ => "diffusers layout",
        };
        string prefix = KeyPrefix.Length == 0 ? "" : Layout == CheckpointLayout.SaiSd3 ? $", SAI prefix '{KeyPrefix}' removed" : $", ComfyUI-prefixed ('{KeyPrefix}' removed)";
        string encoding = Encoding switch
        {
            WeightEncoding.Fp8 => ", fp8 weights (decoded exactly to fp32)",
            WeightEncoding.ScaledFp8 => ", ComfyUI scaled fp8 (decoded × scale_weight)",
            WeightEncoding.ComfyMixedPrecision => ", ComfyUI mixed-precision fp8 (comfy_quant layers decoded × weight_scale)",
            _ => "",
        };
        return layout + prefix + encoding;
    }
}
