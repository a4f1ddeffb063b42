using System.CommandLine;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Files;
using AccelAes.Loader.OpenClip;
using AccelAes.Loader.PyTorch;
using AccelAes.Loader.SafeTensors;
using AccelAes.Loader.SingleFile;
using Spectre.Console;

namespace AccelAes.Cli.Commands;

/// <summary>
/// `accelaes inspect PATH`: what a checkpoint or model folder holds and which model class it is. In a folder, a
/// weights file that cannot be read (empty, truncated, corrupt) does not stop the listing — the rest is still worth
/// seeing — but its error is printed where its weights line would be and the command exits 1, so a broken folder
/// never passes as a healthy one.
/// </summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("path") { Description = "A .safetensors file, a PyTorch checkpoint (.pt, .pth, .bin: read as torch.load(weights_only=True) reads it), a *.safetensors.index.json or *.bin.index.json, or a diffusers model / component folder." };
        var all = new Option<bool>("--tensors") { Description = "List every tensor of every component (files are always listed in full)." };
        var command = new Command("inspect", "Show the tensors, dtypes, shapes, sizes and config of a checkpoint or model folder, and which model class it is.")
        {
            path, all,
        };
        command.SetAction(parse =>
        {
            string p = parse.GetValue(path)!;
            switch (InputFile.KindOf(p))
            {
                case FileEntryKind.Directory:
                    int unreadable = InspectFolder(p, parse.GetValue(all));
                    if (unreadable > 0)
                        throw new AccelAesException($"'{Path.GetFullPath(p)}': {unreadable} weights file(s) could not be read (errors above).");
                    break;
                case FileEntryKind.Missing:
                    throw new AccelAesException($"'{Path.GetFullPath(p)}' does not exist.");
                default:
                    InspectFile(p); // SafeTensorsFile refuses FIFOs, devices and looping links by name
                    break;
            }
            return ExitCodes.Success;
        });
        return command;
    }

    private static void InspectFile(string path)
    {
        using var set = SafeTensorsSet.OpenFile(path);
        Ui.Heading(set.Source);
        foreach (var file in set.Files)
            foreach (var (k, v) in file.Metadata)
                Ui.Info($"  metadata {k} = {v}");
        ListTensors(set);
        Summary(set, ModelClassDetector.Detect(set.Tensors.Select(t => t.Name)));
        if (set.Files.Count == 1 && PyTorchCheckpoint.IsPyTorchFile(set.Files[0].Path))
            PyTorchFormat(set.Files[0].Path);
        else if (set.Files.Count == 1)
            SingleFileFormat(set);
    }

    /// <summary>
    /// For a PyTorch checkpoint: how it was read, and, when it is an open_clip CLIP state dict (HPSv2's .pt), the
    /// transformers CLIPModel it maps to and the config its shapes imply.
    /// </summary>
    private static void PyTorchFormat(string path)
    {
        Ui.Info("  format: PyTorch checkpoint (torch.save zip), read with torch.load(weights_only=True)'s restrictions");
        OpenClipCheckpoint clip;
        try
        {
            clip = OpenClipCheckpoint.Open(path);
        }
        catch (AccelAesException)
        {
            return; // not an open_clip CLIP: the tensor listing says all there is
        }
        using (clip)
        {
            var c = clip.Config;
            Ui.Info($"  maps to: CLIPModel (open_clip layout; {clip.Mapping.Targets.Count} transformers tensors"
                + (clip.Mapping.Unmapped.Count == 0 ? "" : $", {clip.Mapping.Unmapped.Count} unused, e.g. {clip.Mapping.Unmapped[0]}") + ")");
            Ui.Info($"  config (inferred from shapes): vision {c.Vision.NumHiddenLayers}×{c.Vision.HiddenSize} "
                + $"({c.Vision.NumAttentionHeads} heads, patch {c.Vision.PatchSize}, image {c.Vision.ImageSize}), text "
                + $"{c.Text.NumHiddenLayers}×{c.Text.HiddenSize} ({c.Text.NumAttentionHeads} heads, context {c.Text.MaxPositionEmbeddings}, "
                + $"vocab {c.Text.VocabSize}), projection {c.ProjectionDim}, {c.Vision.HiddenAct}");
        }
    }

    /// <summary>
    /// The single-file format the keys and dtypes show (diffusers / BFL / SAI / ComfyUI-prefixed / fp8 / scaled fp8) and,
    /// for a BFL FLUX or SAI SD3 file, each component it maps to (the transformer and every bundled VAE and text encoder, with
    /// the key prefix it is under) with its config. A file that is no transformer checkpoint says so
    /// without failing the command: inspect lists any safetensors file.
    /// </summary>
    private static void SingleFileFormat(SafeTensorsSet set)
    {
        CheckpointFormat format;
        try
        {
            var stripped = CheckpointFormatDetector.StripPrefix(set.Tensors, set.Source, out bool prefixed);
            format = CheckpointFormatDetector.Detect(stripped, prefixed, set.Source);
        }
        catch (AccelAesException)
        {
            if (!ComponentFileFormat(set))
                Ui.Info("  format: no single-file transformer layout recognised (BFL FLUX.1, Stability AI SD3 / SD3.5 or diffusers names)");
            return;
        }
        Ui.Info($"  format: {format.Describe()}");
        if (format.Layout == CheckpointLayout.Diffusers) return;
        try
        {
            using var checkpoint = SingleFileCheckpoint.Open(set.Files[0].Path);
            foreach (var part in checkpoint.Parts.Values)
            {
                string bundled = part.FilePrefix.Length == 0 ? "" : $", bundled under '{part.FilePrefix}'";
                Ui.Info($"  maps to: {part.Component} = {part.ClassName} ({part.Tensors.Count} diffusers tensors{bundled}"
                    + (part.Unconsumed.Count == 0 ? "" : $", {part.Unconsumed.Count} file tensors unused, e.g. {part.Unconsumed[0]}") + ")");
                Ui.Info(part.Config is { } config
                    ? $"    config ({part.ConfigOrigin}): " + string.Join(", ", config.Keys.Where(k => !k.StartsWith('_')).Order()
                        .Select(k => $"{k}={ConfigValue(config, k)}"))
                    : $"    config: {part.ConfigOrigin}");
            }
            if (checkpoint.OtherComponents.Count > 0)
                Ui.Info($"  other tensors in the file (of no component the pipeline takes, not loaded): {checkpoint.OtherComponents.Count}, e.g. {checkpoint.OtherComponents[0]}");
        }
        catch (AccelAesException e)
        {
            string model = format.Layout == CheckpointLayout.SaiSd3 ? Sd3ConfigName : FluxConfigName;
            Ui.Info($"  maps to: {model}, but it cannot be loaded as it is: {e.Message}");
        }
    }

    /// <summary>
    /// A text encoder or VAE file of its own: what it is and where a <c>--components</c> folder of single files places it
    /// in each pipeline (CLIP by its published width). False when the file is not one.
    /// </summary>
    private static bool ComponentFileFormat(SafeTensorsSet set)
    {
        var tensors = set.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        if (ComponentFileDetector.Detect(tensors) is not { } kind) return false;
        long width = kind == ComponentFileKind.ClipText ? ComponentFileDetector.ClipWidth(tensors) : 0;
        Ui.Info($"  format: {new CheckpointFormat(CheckpointLayout.ComponentFile, "", CheckpointFormatDetector.EncodingOf(tensors), kind).Describe()}"
            + (kind == ComponentFileKind.ClipText ? $", width {width}" : "") + "; it loads from a --components folder of single files");
        foreach (string pipeline in new[] { ComponentSlot.FluxPipeline, ComponentSlot.Sd3Pipeline })
        {
            var slot = ComponentSlot.Of(pipeline).FirstOrDefault(s => s.Kind == kind && (kind != ComponentFileKind.ClipText || s.PublishedWidth == width));
            Ui.Info(slot is null
                ? $"  maps to: {pipeline}: " + (kind == ComponentFileKind.ClipText ? "placed by a <component>/config.json of that hidden_size, or not used" : "not used")
                : $"  maps to: {pipeline} {slot.Component} = {slot.ClassName} ({slot.Label})");
        }
        return true;
    }

    private const string Sd3ConfigName = Loader.Diffusers.Configs.Sd3TransformerConfig.ClassName;
    private const string FluxConfigName = Loader.Diffusers.Configs.FluxTransformerConfig.ClassName;

    /// <summary>Lists a model or component folder; returns how many weights files could not be read.</summary>
    private static int InspectFolder(string path, bool listTensors)
    {
        var folder = ModelFolder.Open(path);
        if (folder.IsSingleComponent)
            return InspectComponent(folder.Component(""), listTensors: true);
        Ui.Heading($"{folder.Root}: {folder.PipelineClass}");
        var table = Ui.Table("component", "library", "class", "weights");
        foreach (var entry in folder.Components.Values.OrderBy(c => c.Name))
        {
            string dir = Path.Combine(folder.Root, entry.Name);
            string weights = Directory.Exists(dir)
                ? string.Join(", ", Directory.EnumerateFiles(dir, "*.safetensors*").Concat(Directory.EnumerateFiles(dir, "*.bin*"))
                    .Select(Path.GetFileName).Order())
                : "(folder missing)";
            table.AddCells(entry.Name, entry.Library, entry.ClassName, weights.Length == 0 ? "-" : weights);
        }
        Ui.Show(table);
        int unreadable = 0;
        foreach (var entry in folder.Components.Values.OrderBy(c => c.Name))
            if (InputFile.Exists(Path.Combine(folder.Root, entry.Name, "config.json")))
                unreadable += InspectComponent(folder.Component(entry.Name), listTensors);
        return unreadable;
    }

    private static int InspectComponent(ComponentFolder component, bool listTensors)
    {
        Ui.Heading($"{component.Path}: {component.ClassName}");
        Ui.Info("  config: " + string.Join(", ", component.Config.Keys.Where(k => !k.StartsWith('_')).Order()
            .Select(k => $"{k}={ConfigValue(component.Config, k)}")));
        if (!Directory.EnumerateFiles(component.Path, "*.safetensors").Any() && !Directory.EnumerateFiles(component.Path, "*.bin").Any())
        {
            Ui.Info("  (no safetensors or .bin weights here)");
            return 0;
        }
        int unreadable = 0;
        IReadOnlyList<string> variants = SafeTensorsSet.FindVariants(component.Path, component.WeightsBaseName);
        foreach (string? variant in new string?[] { null }.Concat(variants))
        {
            SafeTensorsSet set;
            try
            {
                set = SafeTensorsSet.OpenComponent(component.Path, component.WeightsBaseName, variant);
            }
            catch (SafeTensorsFormatException e) when (variant is null && e.Problem == SafeTensorsProblem.FileNotFound)
            {
                continue; // only variant files exist
            }
            catch (AccelAesException e)
            {
                AnsiConsole.MarkupLineInterpolated($"  [red]error:[/] weights{(variant is null ? "" : $" (variant {variant})")}: {e.Message}");
                unreadable++;
                continue;
            }
            using (set)
            {
                Ui.Info($"  weights{(variant is null ? "" : $" (variant {variant})")}: {set.Source}");
                if (listTensors) ListTensors(set);
                Summary(set, ModelClassDetector.Detect(set.Tensors.Select(t => t.Name)));
            }
        }
        return unreadable;
    }

    private static string ConfigValue(JsonConfig config, string key)
    {
        try { return config.GetString(key) ?? "null"; }
        catch (ConfigException) { }
        try { return config.GetDouble(key).ToString(System.Globalization.CultureInfo.InvariantCulture); }
        catch (ConfigException) { }
        try { return config.GetBool(key).ToString().ToLowerInvariant(); }
        catch (ConfigException) { }
        try { return "[" + string.Join(",", config.GetIntArray(key)) + "]"; }
        catch (ConfigException) { }
        try { return "[" + string.Join(",", config.GetStringArray(key)) + "]"; }
        catch (ConfigException) { return "…"; }
    }

    private static void ListTensors(SafeTensorsSet set)
    {
        var table = Ui.Table("tensor", "dtype", "shape", "bytes");
        foreach (var t in set.Tensors.OrderBy(t => t.Name, StringComparer.Ordinal))
            table.AddCells(t.Name, t.DType.HeaderName(), Ui.Shape(t.Shape), Ui.Bytes(t.ByteLength));
        Ui.Show(table);
    }

    private static void Summary(SafeTensorsSet set, string? modelClass)
    {
        var byType = set.Tensors.GroupBy(t => t.DType).Select(g => $"{g.Count()} {g.Key.HeaderName()}");
        long parameters = set.Tensors.Sum(t => t.ElementCount);
        Ui.Info($"  {set.Tensors.Count} tensors ({string.Join(", ", byType)}), {parameters:N0} elements, {Ui.Bytes(set.TotalBytes)} in {set.Files.Count} file(s)");
        Ui.Info($"  model class: {modelClass ?? "unknown (no known tensor-name pattern)"}");
    }
}
