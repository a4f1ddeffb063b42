using AccelAes.Loader.Diffusers;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.SingleFile;

/// <summary>
/// A <c>--components</c> folder of single files, as FLUX.1 and SD3 users have them from ComfyUI (<c>clip_l.safetensors</c>,
/// <c>clip_g.safetensors</c>, <c>t5xxl_fp16.safetensors</c> / <c>t5xxl_fp8_e4m3fn.safetensors</c>, <c>ae.safetensors</c>): each
/// top-level <c>*.safetensors</c> is told apart by its tensors — CLIP (<c>text_model.*</c>) by its width (768: CLIP-L, 1280:
/// CLIP-G, else the place whose config.json in the folder has that hidden_size), T5 (<c>encoder.block.N.*</c>), the LDM VAE
/// (<c>encoder.*</c> / <c>decoder.*</c>) — and placed where the pipeline takes it (<see cref="ComponentSlot"/>). Transformer
/// checkpoints lying beside them are passed over (the model file may share the folder), as are CLIP files of a place the
/// pipeline lacks (CLIP-G in a FLUX folder shared with SD3); any other file is an error naming it.
/// </summary>
public static class ComponentFilesFolder
{
    /// <summary>Whether <paramref name="root"/> holds single files (any top-level <c>*.safetensors</c>).</summary>
    public static bool HoldsSingleFiles(string root) => Directory.EnumerateFiles(root, "*.safetensors").Any();

    /// <summary>Component → the file that fills it, for <paramref name="pipeline"/>.</summary>
    /// <param name="modelFile">The <c>--model</c> file (full path), passed over when it lies in the folder.</param>
    public static IReadOnlyDictionary<string, string> Assign(string root, string pipeline, string modelFile, Func<string, JsonConfig?> componentConfig)
    {
        var slots = ComponentSlot.Of(pipeline);
        var assigned = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (string file in Directory.EnumerateFiles(root, "*.safetensors").Order(StringComparer.Ordinal))
        {
            string full = Path.GetFullPath(file);
            if (full == modelFile) continue;
            ComponentSlot? slot;
            using (var set = SafeTensorsSet.OpenFile(full))
            {
                var tensors = set.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
                var stripped = CheckpointFormatDetector.StripPrefix(set.Tensors, set.Source, out _);
                if (CheckpointFormatDetector.IsTransformer(stripped)) continue;
                var kind = ComponentFileDetector.Detect(tensors) ?? throw new AccelAesException(
                    $"--components: '{full}' is none of the files a folder of single files takes: a CLIP text encoder (text_model.*), a T5 encoder "
                    + $"(encoder.block.N.*), an LDM VAE (encoder.* / decoder.*) or a transformer checkpoint; first keys: "
                    + $"{string.Join(", ", tensors.Keys.Order(StringComparer.Ordinal).Take(5))}.");
                slot = kind == ComponentFileKind.ClipText
                    ? ClipSlot(slots, ComponentFileDetector.ClipWidth(tensors), full, pipeline, componentConfig)
                    : slots.First(s => s.Kind == kind);
            }
            if (slot is null) continue;
            if (assigned.TryGetValue(slot.Component, out var other))
                throw new AccelAesException($"--components: '{other}' and '{full}' are both {slot.Label} files ({slot.Component} of a {pipeline}); keep one in the folder.");
            assigned[slot.Component] = full;
        }
        return assigned;
    }

    /// <summary>The CLIP place of a width: the published width, else the place whose config.json has it; null for a published width of a place the pipeline lacks.</summary>
    private static ComponentSlot? ClipSlot(IReadOnlyList<ComponentSlot> slots, long width, string file, string pipeline, Func<string, JsonConfig?> componentConfig)
    {
        var clips = slots.Where(s => s.Kind == ComponentFileKind.ClipText).ToList();
        if (clips.FirstOrDefault(s => s.PublishedWidth == width) is { } published) return published;
        var byConfig = clips.Where(s => componentConfig(s.Component) is { } c && c.GetOptionalInt("hidden_size") == width).ToList();
        if (byConfig.Count == 1) return byConfig[0];
        if (width == 1280 || width == 768) return null; // CLIP-G (or CLIP-L) of a pipeline that has no such place
        throw new AccelAesException(
            $"--components: '{file}' is a CLIP text encoder of width {width}, neither CLIP-L (768) nor CLIP-G (1280); "
            + $"place it with {string.Join(" or ", clips.Select(s => s.Component + "/config.json"))} (hidden_size {width}) in the folder — a {pipeline} takes "
            + string.Join(", ", clips.Select(s => $"{s.Label} as {s.Component}")) + ".");
    }
}
