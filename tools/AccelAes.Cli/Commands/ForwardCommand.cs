using System.CommandLine;
using System.Diagnostics;
using AccelAes.Engine.Backends;
using AccelAes.Engine.Components;
using AccelAes.Engine.Planning;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.Files;
using AccelAes.Loader.Images;
using AccelAes.Loader.SingleFile;

namespace AccelAes.Cli.Commands;

/// <summary>
/// `accelaes forward`: one component's forward on named input tensors (diffusers' keyword-argument names),
/// outputs written under the names diffusers / transformers return. The conformance harness, and a tool for
/// comparing against your own PyTorch runs (`--compare`).
/// </summary>
internal static class ForwardCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model(required: true);
        model.Description = "A diffusers model folder (with model_index.json), a single component folder (with config.json), "
            + "or a single-file checkpoint (.safetensors: FLUX.1 in BFL layout, ComfyUI-prefixed, fp8, scaled fp8; SD3 / SD3.5 in Stability AI's layout, "
            + "whose VAE and text encoders --component selects where the file carries them).";
        var components = CommonOptions.Components();
        var config = new Option<string?>("--config")
        {
            Description = "With a single-file --model: a folder whose config.json gives the transformer's config "
                + "(checked against the tensors; default: --components' transformer/config.json, else a config.json of the file's model class beside the file, "
                + "else inferred from tensor shapes).",
        };
        var component = new Option<string>("--component")
        {
            Description = "Component of a pipeline folder or a single file to run (transformer, vae, text_encoder, ...).",
            DefaultValueFactory = _ => "transformer",
        };
        var inputs = new Option<string?>("--inputs") { Description = "A safetensors file of input tensors named as the model's forward arguments (required unless --image gives all of them)." };
        var image = new Option<string?>("--image")
        {
            Description = "A PNG image in place of pixel_values, for a CLIP image tower (CLIPVisionModel(WithProjection), CLIPModel): "
                + "preprocessed as CLIPImageProcessor does; the pixel_values used are written to --out beside the outputs.",
        };
        var processor = new Option<string?>("--processor")
        {
            Description = "With --image: the preprocessor_config.json (or its folder) to preprocess with "
                + "(default: the component folder's, else the pipeline's feature_extractor/).",
        };
        var output = new Option<string>("--out") { Description = "Where to write the outputs (safetensors, F32).", Required = true };
        var compare = new Option<string?>("--compare") { Description = "A safetensors file of reference outputs: report the error of each output present in it." };
        var pipeline = new Option<string?>("--pipeline")
        {
            Description = "With a VAE component file (ae.safetensors) as --model: the pipeline whose published latent scaling its config takes "
                + "(flux: 0.3611 / 0.1159, sd3: 1.5305 / 0.0609; the decoder's forward takes z already unscaled). --config DIR gives a whole config.json instead.",
        };
        pipeline.AcceptOnlyFromAmong([.. StandaloneComponentFile.Pipelines.Keys]);
        var weights = CommonOptions.Weights();
        var fp8Gemm = CommonOptions.Fp8Gemm();
        var swiGluGemm = CommonOptions.SwiGluGemm();
        var variant = CommonOptions.Variant();
        var backend = CommonOptions.Backend();
        var command = new Command("forward", "Run one model component's forward on named inputs and write its named outputs.")
        {
            model, component, inputs, image, processor, output, compare, variant, backend, config, pipeline, weights, fp8Gemm, swiGluGemm, components,
        };
        command.SetAction(parse =>
        {
            // The reference is read after the forward: a missing one must be noticed before the forward runs and writes --out.
            if (parse.GetValue(compare) is string referenceFile) InputFile.RequireRegularFile(referenceFile, "--compare: the reference file");
            string? imagePath = parse.GetValue(image), processorPath = parse.GetValue(processor);
            if (parse.GetValue(inputs) is null && imagePath is null)
                throw new AccelAesException("forward needs --inputs (a safetensors file of named inputs), --image (for a CLIP image tower), or both.");
            if (processorPath is not null && imagePath is null)
                throw new AccelAesException("--processor applies with --image only (it says how to preprocess the image).");
            if (imagePath is not null) InputFile.RequireRegularFile(imagePath, "--image");
            new RunFiles() // before anything loads: --out writable and none of the inputs
                .Input(parse.GetValue(model), "--model")
                .Input(parse.GetValue(inputs), "--inputs")
                .Input(imagePath, "--image")
                .Input(processorPath, "--processor")
                .Input(parse.GetValue(compare), "--compare")
                .Output(parse.GetValue(output), "--out")
                .Check();
            using IBackend be = CommonOptions.CreateBackend(parse.GetValue(backend)!, parse.GetValue(fp8Gemm), parse.GetValue(swiGluGemm));
            BackendDiagnostics.ShowWarnings(be); // a bypassed cuBLASLt, GEMM shapes on gemm.cu, kernel target switches: never silent
            var watch = Stopwatch.StartNew();
            var (loaded, imageProcessor) = Load(parse.GetValue(model)!, parse.GetValue(component)!, parse.GetResult(component) is { Implicit: false },
                parse.GetValue(variant), parse.GetValue(config), parse.GetValue(pipeline), parse.GetValue(components), imagePath, processorPath,
                CommonOptions.PrecisionOf(parse.GetValue(weights)!), be);
            TimeSpan loadTime = watch.Elapsed;
            foreach (string unused in loaded.UnusedTensors.Take(10))
                Ui.Warn($"checkpoint tensor '{unused}' is not used by this config");
            var named = parse.GetValue(inputs) is string inputsPath
                ? new Dictionary<string, Tensor>(TensorFiles.Read(inputsPath, be), StringComparer.Ordinal)
                : new Dictionary<string, Tensor>(StringComparer.Ordinal);
            if (imagePath is not null)
            {
                if (named.ContainsKey(ImageInput.InputName))
                    throw new AccelAesException($"pixel_values is given twice: by --image and in --inputs '{parse.GetValue(inputs)}'; give it once.");
                named[ImageInput.InputName] = ImageInput.PixelValues(loaded.Forward, imagePath, imageProcessor!, be);
            }
            watch.Restart();
            var outputs = loaded.Forward.Forward(named);
            TimeSpan runTime = watch.Elapsed;
            if (imagePath is not null)
                outputs = new Dictionary<string, Tensor>(outputs, StringComparer.Ordinal) { [ImageInput.InputName] = named[ImageInput.InputName] };
            string outPath = parse.GetValue(output)!;
            CliCancellation.Token.ThrowIfCancellationRequested();
            TensorFiles.Write(outPath, outputs, new Dictionary<string, string> { ["producer"] = "accelaes forward", ["class"] = loaded.Forward.ClassName }, "--out");

            var table = Ui.Table("output", "shape", "mean |x|");
            foreach (var (name, t) in outputs)
            {
                float[] v = be.Download(t);
                table.AddCells(name, t.Shape, v.Length == 0 ? 0 : v.Average(x => Math.Abs(x)).ToString("G6"));
            }
            Ui.Show(table);
            Ui.Done($"{loaded.Forward.ClassName} on {be.Name}: load {Ui.Seconds(loadTime)}, forward {Ui.Seconds(runTime)} → {outPath}");
            if (parse.GetValue(compare) is string reference)
                return Compare(outputs, reference, be);
            return ExitCodes.Success;
        });
        return command;
    }

    private static readonly string[] TransformerClasses =
        [Sd3TransformerConfig.ClassName, FluxTransformerConfig.ClassName, LuminaNextDiTConfig.ClassName];

    /// <summary>
    /// A folder loads the named component; a regular file is a single-file checkpoint whose transformer is mapped to
    /// diffusers' names (<see cref="ComponentLoader.LoadSingleFile"/>). Options that only mean something for one of
    /// the two are refused for the other, by name.
    /// </summary>
    private static (LoadedComponent Loaded, ClipImageProcessorConfig? Processor) Load(string model, string component, bool componentGiven, string? variant,
        string? config, string? pipeline, string? components, string? image, string? processor, WeightPrecision weights, IBackend be)
    {
        bool file = InputFile.KindOf(model) == FileEntryKind.RegularFile;
        ComponentFileKind? kind = file ? StandaloneComponentFile.KindOf(model) : null;
        if (pipeline is not null && kind is null)
            throw new AccelAesException($"--pipeline applies to a VAE component file only (it gives the latent scaling); '{model}' is "
                + (file ? "a transformer checkpoint." : "a folder, which carries its own config.json."));
        if (kind is { } fileKind)
        {
            // A component file holds one component, run as the model it is: options that choose or shape another are refused by name.
            if (componentGiven)
                throw new AccelAesException($"--component {component}: '{model}' is a component file holding one component, {ComponentFileDetector.Describe(fileKind)}; leave --component out.");
            if (components is not null)
                throw new AccelAesException($"--components: '{model}' is a component file; its config comes from --config DIR or its tensors.");
            if (image is not null)
                throw new AccelAesException($"--image: '{model}' is {ComponentFileDetector.Describe(fileKind)}, not a CLIP image tower.");
            if (variant is not null)
                throw new AccelAesException($"--variant {variant}: variants name files inside a diffusers folder; '{model}' is a single file.");
            if (weights == WeightPrecision.Fp8)
                throw new AccelAesException($"--weights fp8 quantises a transformer's Linear weights; '{model}' is {ComponentFileDetector.Describe(fileKind)}.");
            using var checkpoint = StandaloneComponentFile.Open(model, fileKind, config, pipeline);
            var part = checkpoint.Parts.Values.Single();
            Ui.Info($"{Path.GetFileName(model)}: {ComponentFileDetector.Describe(fileKind)}, run as {part.ClassName}; config {part.ConfigOrigin}"
                + (fileKind == ComponentFileKind.LdmVae && part.Config!.GetDouble("scaling_factor", double.NaN) is var scaling && !double.IsNaN(scaling)
                    ? $" (latent scaling {scaling.ToString(System.Globalization.CultureInfo.InvariantCulture)})" : ""));
            return (ComponentLoader.LoadPart(checkpoint, part.Component, be), null);
        }
        if (file)
        {
            if (image is not null)
                throw new AccelAesException($"--image: the single file '{model}' holds no CLIP image tower; give a CLIP image tower's folder as --model.");
            if (variant is not null)
                throw new AccelAesException($"--variant {variant}: variants name files inside a diffusers folder; '{model}' is a single file.");
            if (weights == WeightPrecision.Fp8 && component != "transformer")
                throw new AccelAesException($"--weights fp8 quantises a transformer's Linear weights; component '{component}' is not the transformer.");
            // LoadSingleFile names the components the file holds when it lacks the one asked for.
            LoadedComponent single = ComponentLoader.LoadSingleFile(model, be, config, weights, component,
                components is null ? null : ModelFolder.RequireFolder(components));
            return (single, null);
        }
        if (config is not null)
            throw new AccelAesException("--config applies to a single-file --model only; a diffusers folder carries its own config.json.");
        if (components is not null)
            throw new AccelAesException("--components applies to a single-file --model only; a diffusers folder carries its own components.");
        var folder = ModelFolder.Open(model);
        ComponentFolder componentFolder = folder.Component(component);
        if (weights == WeightPrecision.Fp8 && !TransformerClasses.Contains(componentFolder.ClassName))
            throw new AccelAesException($"--weights fp8 quantises a transformer's Linear weights; component '{component}' is {componentFolder.ClassName}, not a transformer.");
        // Settings are read before the weights load, so a missing or bad preprocessor_config.json fails fast.
        ClipImageProcessorConfig? imageProcessor = image is null ? null
            : ImageInput.ResolveProcessor(processor, componentFolder.Path, folder.IsSingleComponent ? null : folder.Root);
        return (ComponentLoader.Load(componentFolder, be, variant, weights), imageProcessor);
    }

    /// <summary>Prints max |ours − ref| / max(1, max |ref|) per output; fails the command above 1e-4 (DESIGN §4).</summary>
    private static int Compare(IReadOnlyDictionary<string, Tensor> outputs, string referencePath, IBackend be)
    {
        var reference = TensorFiles.Read(referencePath, be);
        var table = Ui.Table("output", "reference", "max |diff|", "relative", "within 1e-4");
        bool allGood = true, any = false;
        foreach (var (name, t) in outputs)
        {
            if (!reference.TryGetValue(name, out var r)) continue;
            any = true;
            if (r.Shape != t.Shape)
                throw new AccelAesException($"Reference '{name}' has shape {r.Shape}, the output {t.Shape}.");
            float[] a = be.Download(t), b = be.Download(r);
            double maxDiff = 0, maxRef = 1;
            for (int i = 0; i < a.Length; i++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs((double)a[i] - b[i]));
                maxRef = Math.Max(maxRef, Math.Abs(b[i]));
            }
            double rel = double.IsNaN(maxDiff) ? double.PositiveInfinity : maxDiff / maxRef;
            allGood &= rel <= 1e-4;
            table.AddCells(name, Path.GetFileName(referencePath), maxDiff.ToString("E3"), rel.ToString("E3"), rel <= 1e-4 ? "yes" : "NO");
        }
        if (!any) throw new AccelAesException($"'{referencePath}' holds none of the outputs ({string.Join(", ", outputs.Keys)}).");
        Ui.Show(table);
        return allGood ? ExitCodes.Success : ExitCodes.CheckFailed;
    }
}
