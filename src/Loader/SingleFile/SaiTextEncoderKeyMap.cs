using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.SingleFile;

/// <summary>
/// The text encoders a Stability AI SD3 single file may carry (<c>sd3_medium_incl_clips_t5xxlfp8.safetensors</c>), already
/// in transformers' names under <c>text_encoders.{clip_l,clip_g,t5xxl}.transformer.</c>. As diffusers'
/// <c>create_diffusers_clip_model_from_ldm</c> / <c>convert_sd3_t5_checkpoint_to_diffusers</c> do (huggingface/diffusers
/// src/diffusers/loaders/single_file_utils.py at 58eb52c0803ea9af3abec60841c2a093bdf1f951, read, not copied) the prefix is
/// removed; CLIP-L's <c>text_projection.weight</c> is the identity (SD3 pools CLIP-L unprojected; diffusers sets
/// <c>torch.eye</c>, replacing any projection in the file).
/// </summary>
public static class SaiTextEncoderKeyMap
{
    public const string Prefix = "text_encoders.";

    /// <summary>File key prefix → the SD3 pipeline component and model class it becomes.</summary>
    public static IReadOnlyList<(string FilePrefix, string Component, string ClassName, string Label)> Encoders { get; } =
    [
        ("text_encoders.clip_l.transformer.", "text_encoder", ClipTextConfig.WithProjectionClass, "CLIP-L"),
        ("text_encoders.clip_g.transformer.", "text_encoder_2", ClipTextConfig.WithProjectionClass, "CLIP-G"),
        ("text_encoders.t5xxl.transformer.", "text_encoder_3", T5Config.EncoderModelClass, "T5-XXL"),
    ];

    private const string ClipLPositions = "text_encoders.clip_l.transformer.text_model.embeddings.position_embedding.weight";

    /// <returns>Per encoder the file carries: its component name, class, mapped tensors; then the <c>text_encoders.</c> keys no rule consumed.</returns>
    public static (IReadOnlyList<(string Component, string ClassName, string Label, IReadOnlyDictionary<string, MappedTensor> Tensors)> Encoders,
        IReadOnlyList<string> Unconsumed) Map(IReadOnlyDictionary<string, SafeTensorInfo> tensors, string source)
    {
        var found = new List<(string, string, string, IReadOnlyDictionary<string, MappedTensor>)>();
        var consumed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (filePrefix, component, cls, label) in Encoders)
        {
            var keys = tensors.Keys.Where(k => k.StartsWith(filePrefix, StringComparison.Ordinal)).ToList();
            if (keys.Count == 0) continue;
            var builder = new KeyMapBuilder(tensors, source, $"the SD3 {label} text encoder ({filePrefix}*)");
            foreach (string key in keys)
            {
                string name = key[filePrefix.Length..];
                if (component == "text_encoder" && name == "text_projection.weight") { builder.Consume(key); continue; }
                builder.CopyTensor(key, name);
            }
            if (component == "text_encoder")
            {
                var positions = builder.Require(ClipLPositions);
                builder.Identity("text_projection.weight", positions.Shape[^1]);
            }
            consumed.UnionWith(builder.Consumed);
            found.Add((component, cls, label, builder.Mapped));
        }
        var unconsumed = tensors.Keys.Where(k => k.StartsWith(Prefix, StringComparison.Ordinal) && !consumed.Contains(k)).Order(StringComparer.Ordinal).ToList();
        return (found, unconsumed);
    }
}
