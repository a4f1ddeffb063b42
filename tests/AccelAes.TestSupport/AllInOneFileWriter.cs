using AccelAes.Loader.SafeTensors;

namespace AccelAes.TestSupport;

/// <summary>
/// Writes an "all-in-one" checkpoint as ComfyUI saves one (comfy/sd.py <c>save_checkpoint</c>: the diffusion model under
/// <c>model.diffusion_model.</c>, the VAE under the model's VAE prefix, the text encoders under
/// <c>text_encoders.&lt;name&gt;.transformer.</c>): every tensor of each source file under its prefix, its dtype and bytes as
/// they are, so each component loads back bit for bit.
/// </summary>
public static class AllInOneFileWriter
{
    public const string DiffusionModel = "model.diffusion_model.";

    public const string FluxVae = "vae.";

    public const string ClipL = "text_encoders.clip_l.transformer.";

    public const string T5xxl = "text_encoders.t5xxl.transformer.";

    /// <summary>Writes <paramref name="path"/> from (prefix, safetensors file) pairs, then the <paramref name="extra"/> F32 tensors.</summary>
    public static void Write(string path, IEnumerable<(string Prefix, string File)> sources, params (string Name, float[] Values)[] extra)
    {
        var writer = new SafeTensorsWriter();
        foreach (var (prefix, file) in sources)
        {
            using var set = SafeTensorsSet.OpenFile(file);
            foreach (var t in set.Tensors)
                writer.Add(prefix + t.Name, t.DType, t.Shape.ToArray(), set.GetBytes(t).ToArray());
        }
        foreach (var (name, values) in extra) writer.Add(name, [values.Length], values);
        writer.Save(path);
    }

    /// <summary>
    /// A FLUX.1 all-in-one file of a diffusers FLUX folder (a tiny one from make-tiny): its transformer in the BFL layout
    /// (<see cref="BflFluxFileWriter"/>), its VAE in the LDM layout under <c>vae.</c> (ComfyUI's <c>Flux.vae_key_prefix</c>),
    /// CLIP-L and T5 in transformers' names, and CLIP's <c>logit_scale</c> beside them as ComfyUI's files carry it.
    /// </summary>
    public static void WriteFlux(string folder, string path, string workDir)
    {
        string transformer = Path.Combine(workDir, "aio-transformer.safetensors");
        string vae = Path.Combine(workDir, "aio-vae.safetensors");
        BflFluxFileWriter.Write(Path.Combine(folder, "transformer"), transformer);
        SaiSd3FileWriter.WriteVae(Path.Combine(folder, "vae"), vae);
        Write(path,
        [
            (DiffusionModel, transformer),
            (FluxVae, vae),
            (ClipL, Weights(Path.Combine(folder, "text_encoder"))),
            (T5xxl, Weights(Path.Combine(folder, "text_encoder_2"))),
        ], ("text_encoders.clip_l.logit_scale", [4.6052f]));
        File.Delete(transformer);
        File.Delete(vae);
    }

    /// <summary>The one weights file of a component folder.</summary>
    public static string Weights(string componentFolder) => Directory.EnumerateFiles(componentFolder, "*.safetensors").Single();
}
