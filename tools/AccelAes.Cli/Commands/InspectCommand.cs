using System.CommandLine;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Cli.Commands;

/// <summary>`accelaes inspect PATH`: what a checkpoint or model folder holds and which model class it is.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("path") { Description = "A .safetensors file, a *.safetensors.index.json, or a diffusers model / component folder." };
        var all = new Option<bool>("--tensors") { Description = "List every tensor of every component (files are always listed in full)." };
        var command = new Command("inspect", "Show the tensors, dtypes, shapes, sizes and config of a checkpoint or model folder, and which model class it is.")
        {
            path, all,
        };
        command.SetAction(parse =>
        {
            string p = parse.GetValue(path)!;
            if (File.Exists(p)) InspectFile(p);
            else if (Directory.Exists(p)) InspectFolder(p, parse.GetValue(all));
            else throw new AccelAesException($"'{p}' is neither a file nor a folder.");
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
    }

    private static void InspectFolder(string path, bool listTensors)
    {
        var folder = ModelFolder.Open(path);
        if (folder.IsSingleComponent)
        {
            InspectComponent(folder.Component(""), listTensors: true);
            return;
        }
        Ui.Heading($"{folder.Root}: {folder.PipelineClass}");
        var table = Ui.Table("component", "library", "class", "weights");
        foreach (var entry in folder.Components.Values.OrderBy(c => c.Name))
        {
            string dir = Path.Combine(folder.Root, entry.Name);
            string weights = Directory.Exists(dir)
                ? string.Join(", ", Directory.EnumerateFiles(dir, "*.safetensors*").Select(Path.GetFileName).Order())
                : "(folder missing)";
            table.AddCells(entry.Name, entry.Library, entry.ClassName, weights.Length == 0 ? "-" : weights);
        }
        Ui.Show(table);
        foreach (var entry in folder.Components.Values.OrderBy(c => c.Name))
            if (File.Exists(Path.Combine(folder.Root, entry.Name, "config.json")))
                InspectComponent(folder.Component(entry.Name), listTensors);
    }

    private static void InspectComponent(ComponentFolder component, bool listTensors)
    {
        Ui.Heading($"{component.Path}: {component.ClassName}");
        Ui.Info("  config: " + string.Join(", ", component.Config.Keys.Where(k => !k.StartsWith('_')).Order()
            .Select(k => $"{k}={ConfigValue(component.Config, k)}")));
        if (!Directory.EnumerateFiles(component.Path, "*.safetensors").Any())
        {
            Ui.Info("  (no safetensors weights here)");
            return;
        }
        IReadOnlyList<string> variants = SafeTensorsSet.FindVariants(component.Path, component.WeightsBaseName);
        foreach (string? variant in new string?[] { null }.Concat(variants))
        {
            SafeTensorsSet set;
            try { set = SafeTensorsSet.OpenComponent(component.Path, component.WeightsBaseName, variant); }
            catch (AccelAesException) when (variant is null) { continue; } // only variant files exist
            using (set)
            {
                Ui.Info($"  weights{(variant is null ? "" : $" (variant {variant})")}: {set.Source}");
                if (listTensors) ListTensors(set);
                Summary(set, ModelClassDetector.Detect(set.Tensors.Select(t => t.Name)));
            }
        }
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
