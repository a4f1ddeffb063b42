using System.Globalization;
using System.Text;
using System.Text.Json;
using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.AesMask;
using AccelAes.Engine.Backends;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Engine.Tiny;

namespace AccelAes.Cli;

/// <summary>
/// The run record a generated PNG carries in its text chunks: every setting that reproduces the image (read back by
/// <c>generate --from</c>) and, for information, what the run resolved and did (knob values, executed schedule, mask
/// statistics). <see cref="Write"/> is the one place that writes the keys and <see cref="Read"/> the one that reads
/// them; <see cref="RunRecordKeys"/> names them. The keys are stable: a change that alters what a key means bumps
/// <see cref="FormatVersion"/>, and README.md documents them.
/// </summary>
/// <param name="Request">The generation settings, every default resolved (steps, guidance, size).</param>
/// <param name="ModelFolder">The model folder or single-file checkpoint; null for the built-in tiny model.</param>
/// <param name="Variant">The weight variant loaded, if any.</param>
/// <param name="Backend">The backend that ran it.</param>
internal sealed record RunRecord(GenerationRequest Request, string? ModelFolder, string? Variant, string Backend)
{
    /// <summary><c>--weights</c> as typed (bf16 / fp8); null in a record of a run with the stored weights.</summary>
    public string? Weights { get; init; }

    /// <summary>
    /// The CUDA backend's fp8 GEMM mode the run had when it was not <c>auto</c> (<c>on</c> / <c>off</c>, from <c>--fp8-gemm</c>
    /// or ACCELAES_FP8_GEMM); null in a record of an <c>auto</c> run, and in records older than the key.
    /// </summary>
    public string? Fp8Gemm { get; init; }

    /// <summary>
    /// The CUDA backend's SwiGLU GEMM path when it was not <c>auto</c> (<c>fused</c> / <c>split</c>, from <c>--swiglu-gemm</c> or
    /// ACCELAES_SWIGLU_GEMM); null in a record of an <c>auto</c> run, and in records older than the key.
    /// </summary>
    public string? SwiGluGemm { get; init; }

    /// <summary>A single-file run's <c>--components</c> folder (full path); null for a folder model or none given.</summary>
    public string? Components { get; init; }

    /// <summary>A single-file run's <c>--config</c> folder (full path); null when none was given.</summary>
    public string? Config { get; init; }

    /// <summary>The record format written, and the only one read.</summary>
    public const string FormatVersion = "1";

    /// <summary>How the built-in model is recorded: by name, since its folder is a cache path that differs between machines.</summary>
    public const string BuiltInPrefix = "builtin:";

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>
    /// The text chunks of <paramref name="result"/>. <paramref name="modelFolder"/> is null for the built-in model;
    /// <paramref name="resolved"/> the acceleration options the run used (null when dense).
    /// </summary>
    public static IEnumerable<KeyValuePair<string, string>> Write(GenerationResult result, string? modelFolder, string? variant, string backend,
        AccelerationOptions? resolved, string? weights = null, string? components = null, string? config = null, string? fp8Gemm = null,
        string? swiGluGemm = null)
    {
        GenerationRequest q = result.Request;
        yield return new(RunRecordKeys.Software, "AccelAes");
        yield return new(RunRecordKeys.Version, FormatVersion);
        yield return new(RunRecordKeys.Prompt, q.Prompt);
        yield return new(RunRecordKeys.NegativePrompt, q.NegativePrompt);
        yield return new(RunRecordKeys.Seed, q.Seed.ToString(Inv));
        yield return new(RunRecordKeys.Steps, result.Steps.ToString(Inv));
        yield return new(RunRecordKeys.GuidanceScale, result.GuidanceScale.ToString(Inv));
        if (q.TrueCfgScale is float trueCfg) yield return new(RunRecordKeys.TrueCfgScale, trueCfg.ToString(Inv));
        yield return new(RunRecordKeys.Size, $"{result.Image.Width}x{result.Image.Height}");
        yield return new(RunRecordKeys.CfgMode, q.GuidanceMode.ToString());
        yield return new(RunRecordKeys.Model, modelFolder is null ? BuiltInPrefix + BuiltInModel.Name : Path.GetFullPath(modelFolder));
        if (variant is not null) yield return new(RunRecordKeys.Variant, variant);
        // A single file's composition: without them a rerun could not find what the file lacks, or would infer another config.
        if (components is not null) yield return new(RunRecordKeys.Components, Path.GetFullPath(components));
        if (config is not null) yield return new(RunRecordKeys.Config, Path.GetFullPath(config));
        if (weights == "fp8") yield return new(RunRecordKeys.Weights, weights); // absent: as stored, so older records read the same
        // Only a mode that is not the default: on / off change the numbers of fp8 Linears on the CUDA device (FP8 GEMM or
        // dequantised bf16), and an environment variable that set it would be gone on the machine that reruns the record.
        if (fp8Gemm is not null and not "auto") yield return new(RunRecordKeys.Fp8Gemm, fp8Gemm);
        // Likewise: fused and split differ in the GEMM's order of accumulation (Lumina's SwiGLU), so a rerun takes the same path.
        if (swiGluGemm is not null and not "auto") yield return new(RunRecordKeys.SwiGluGemm, swiGluGemm);
        if (q.AesMaskClip is not null) yield return new(RunRecordKeys.AesMaskClip, Path.GetFullPath(q.AesMaskClip));
        yield return new(RunRecordKeys.Backend, backend);
        yield return new(RunRecordKeys.Accel, AccelerationOptions.PresetName(q.Acceleration.Preset));
        yield return new(RunRecordKeys.AccelSet, JsonArray(q.Acceleration.Overrides.Select(o => $"{o.Key}={o.Value}")));

        // For information (not read back: a rerun recomputes them).
        if (resolved is not null) yield return new(RunRecordKeys.AccelResolved, JsonObject(resolved.KnobValues()));
        if (result.Acceleration is not { } run) yield break;
        yield return new(RunRecordKeys.Schedule, run.Schedule.ToJson());
        if (run.ActiveTokens is { } active) yield return new(RunRecordKeys.ActiveTokens, "[" + string.Join(",", active.Select(a => a.ToString(Inv))) + "]");
        if (run.Mask is not FocusMask mask) yield break;
        yield return new(RunRecordKeys.MaskGrid, $"{mask.Width}x{mask.Height}");
        yield return new(RunRecordKeys.MaskTokens, mask.TokenCount.ToString(Inv));
        yield return new(RunRecordKeys.MaskFocusTokens, mask.FocusIndices.Length.ToString(Inv));
        yield return new(RunRecordKeys.MaskFocusFraction, mask.FocusFraction.ToString("R", Inv));
        yield return new(RunRecordKeys.MaskFallback, mask.Fallback ? "true" : "false");
    }

    /// <summary>
    /// The settings recorded in <paramref name="text"/> (a PNG's text chunks); <paramref name="source"/> names the file
    /// in messages (e.g. "--from 'a.png'").
    /// </summary>
    /// <exception cref="AccelAesException">No AccelAes record, an unknown version, or a missing or malformed value; the message names the key.</exception>
    public static RunRecord Read(IReadOnlyDictionary<string, string> text, string source)
    {
        if (!text.TryGetValue(RunRecordKeys.Version, out string? version))
            throw new AccelAesException($"{source} holds no AccelAes run record (no '{RunRecordKeys.Version}' text key): " + (
                text.TryGetValue(RunRecordKeys.Software, out string? software) && software == "AccelAes"
                    ? "it was written by an accelaes older than run records, or is a --save-mask overlay."
                    : "it was not written by `accelaes generate`, or its text chunks were stripped."));
        if (version != FormatVersion)
            throw new AccelAesException(
                $"{source}: record key '{RunRecordKeys.Version}' is '{version}'; this accelaes reads record version {FormatVersion} only.");
        var reader = new Reader(text, source);

        string preset = reader.Required(RunRecordKeys.Accel);
        string[] overrides = reader.StringArray(RunRecordKeys.AccelSet);
        AccelerationRequest acceleration = reader.Acceleration(preset, overrides);

        var (width, height) = reader.Size(RunRecordKeys.Size);
        var request = new GenerationRequest
        {
            Prompt = reader.Required(RunRecordKeys.Prompt),
            NegativePrompt = reader.Required(RunRecordKeys.NegativePrompt),
            Seed = reader.Parse<ulong>(RunRecordKeys.Seed, "a whole number from 0 to 18446744073709551615",
                s => ulong.TryParse(s, NumberStyles.None, Inv, out ulong v) ? v : (ulong?)null),
            Steps = reader.Parse(RunRecordKeys.Steps, "a whole number", s => int.TryParse(s, NumberStyles.None, Inv, out int v) ? v : (int?)null),
            GuidanceScale = reader.Float(RunRecordKeys.GuidanceScale),
            TrueCfgScale = text.ContainsKey(RunRecordKeys.TrueCfgScale) ? reader.Float(RunRecordKeys.TrueCfgScale) : null,
            Width = width,
            Height = height,
            GuidanceMode = reader.Parse(RunRecordKeys.CfgMode, $"one of {string.Join(", ", Enum.GetNames<GuidanceMode>())}",
                s => Enum.GetNames<GuidanceMode>().FirstOrDefault(n => n.Equals(s, StringComparison.OrdinalIgnoreCase)) is string name
                    ? Enum.Parse<GuidanceMode>(name) : (GuidanceMode?)null),
            Acceleration = acceleration,
            AesMaskClip = reader.Optional(RunRecordKeys.AesMaskClip),
        };
        // The same bounds as the options, named by key.
        GenerationRequestValidation.CheckSettings(request, new GenerationFieldNames(
            reader.Name(RunRecordKeys.Steps), reader.Name(RunRecordKeys.GuidanceScale), reader.Name(RunRecordKeys.TrueCfgScale),
            reader.Name(RunRecordKeys.Size) + " (width)", reader.Name(RunRecordKeys.Size) + " (height)"));

        string backend = reader.Required(RunRecordKeys.Backend);
        if (!BackendFactory.Names.Contains(backend))
            throw reader.Bad(RunRecordKeys.Backend, backend, $"one of {string.Join(", ", BackendFactory.Names)}");

        string model = reader.Required(RunRecordKeys.Model);
        string? folder = model;
        if (model.StartsWith(BuiltInPrefix, StringComparison.Ordinal))
        {
            if (model != BuiltInPrefix + BuiltInModel.Name)
                throw new AccelAesException(
                    $"{reader.Name(RunRecordKeys.Model)} is '{model}', a built-in model this accelaes does not have (it has {BuiltInPrefix}{BuiltInModel.Name}); give --model.");
            folder = null;
        }
        else if (model.Length == 0) throw reader.Bad(RunRecordKeys.Model, model, $"a model folder or {BuiltInPrefix}{BuiltInModel.Name}");

        string? weights = reader.Optional(RunRecordKeys.Weights);
        if (weights is not null and not ("bf16" or "fp8")) throw reader.Bad(RunRecordKeys.Weights, weights, "bf16 or fp8");
        string? fp8Gemm = reader.Optional(RunRecordKeys.Fp8Gemm);
        if (fp8Gemm is not null and not ("auto" or "on" or "off")) throw reader.Bad(RunRecordKeys.Fp8Gemm, fp8Gemm, "auto, on or off");
        string? swiGluGemm = reader.Optional(RunRecordKeys.SwiGluGemm);
        if (swiGluGemm is not null and not ("auto" or "fused" or "split")) throw reader.Bad(RunRecordKeys.SwiGluGemm, swiGluGemm, "auto, fused or split");
        return new RunRecord(request, folder, reader.Optional(RunRecordKeys.Variant), backend)
        {
            Weights = weights, Fp8Gemm = fp8Gemm, SwiGluGemm = swiGluGemm, Components = reader.Optional(RunRecordKeys.Components), Config = reader.Optional(RunRecordKeys.Config),
        };
    }

    private static string JsonArray(IEnumerable<string> values)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            foreach (string v in values) writer.WriteStringValue(v);
            writer.WriteEndArray();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static string JsonObject(IEnumerable<KeyValuePair<string, string>> pairs)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var (key, value) in pairs) writer.WriteString(key, value);
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>Reads values by key; every error names the file and the key.</summary>
    private sealed class Reader(IReadOnlyDictionary<string, string> text, string source)
    {
        public string Name(string key) => $"{source}: record key '{key}'";

        public AccelAesException Bad(string key, string value, string expected) =>
            new($"{Name(key)} is '{Shorten(value)}'; it must be {expected}.");

        public string Required(string key) =>
            text.TryGetValue(key, out string? value) ? value : throw new AccelAesException($"{source}: the run record has no '{key}' key; the record is incomplete.");

        public string? Optional(string key) => text.TryGetValue(key, out string? value) ? value : null;

        public T Parse<T>(string key, string expected, Func<string, T?> parse) where T : struct
        {
            string value = Required(key);
            return value.Length > 0 && parse(value) is T parsed ? parsed : throw Bad(key, value, expected);
        }

        public float Float(string key) => Parse(key, "a finite number", s =>
            float.TryParse(s, NumberStyles.Float, Inv, out float v) && float.IsFinite(v) ? v : (float?)null);

        public (int Width, int Height) Size(string key)
        {
            string value = Required(key);
            string[] parts = value.Split('x');
            if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, Inv, out int w) && int.TryParse(parts[1], NumberStyles.None, Inv, out int h))
                return (w, h);
            throw Bad(key, value, "WIDTHxHEIGHT in pixels, e.g. 1024x1024");
        }

        public string[] StringArray(string key)
        {
            string value = Required(key);
            try
            {
                using var doc = JsonDocument.Parse(value);
                if (doc.RootElement.ValueKind == JsonValueKind.Array && doc.RootElement.EnumerateArray().All(e => e.ValueKind == JsonValueKind.String))
                    return doc.RootElement.EnumerateArray().Select(e => e.GetString()!).ToArray();
            }
            catch (JsonException)
            {
                // reported below, with the key
            }
            throw Bad(key, value, "a JSON list of \"knob=value\" strings, e.g. [\"interval=3\"]");
        }

        /// <summary>The preset and overrides, each override parsed now so a bad one is named by key before anything loads.</summary>
        public AccelerationRequest Acceleration(string preset, string[] overrides)
        {
            AccelerationPreset parsed;
            try
            {
                parsed = AccelerationOptions.ParsePreset(preset);
            }
            catch (AccelAesException e)
            {
                throw new AccelAesException($"{Name(RunRecordKeys.Accel)}: {e.Message}", e);
            }
            AccelerationRequest request;
            try
            {
                request = AccelerationRequest.Parse(preset, overrides);
            }
            catch (AccelAesException e)
            {
                throw new AccelAesException($"{Name(RunRecordKeys.AccelSet)}: {e.Message}", e);
            }
            var options = AccelerationOptions.ForPreset(parsed, Backbone.Sd3); // knob parsing does not depend on the backbone
            foreach (var (knob, value) in request.Overrides)
            {
                try
                {
                    options = options.With(knob, value);
                }
                catch (AccelAesException e)
                {
                    throw new AccelAesException($"{Name(RunRecordKeys.AccelSet)}: {e.Message}", e);
                }
            }
            return request;
        }

        private static string Shorten(string value) => value.Length <= 80 ? value : value[..77] + "…";
    }
}

/// <summary>The text keys of a <see cref="RunRecord"/> (format version 1). Documented in README.md, "Run records".</summary>
internal static class RunRecordKeys
{
    public const string Software = "Software";
    public const string Version = "accelaes_record";
    public const string Prompt = "prompt";
    public const string NegativePrompt = "negative_prompt";
    public const string Seed = "seed";
    public const string Steps = "steps";
    public const string GuidanceScale = "guidance_scale";
    public const string TrueCfgScale = "true_cfg_scale";
    public const string Size = "size";
    public const string CfgMode = "cfg_mode";
    public const string Model = "model";
    public const string Variant = "variant";
    public const string Weights = "weights";
    public const string Fp8Gemm = "fp8_gemm";
    public const string SwiGluGemm = "swiglu_gemm";
    public const string Components = "components";
    public const string Config = "config";
    public const string AesMaskClip = "aesmask_clip";
    public const string Backend = "backend";
    public const string Accel = "accel";
    public const string AccelSet = "accel_set";

    // Information: written, not read back.
    public const string AccelResolved = "accel_resolved";
    public const string Schedule = "schedule";
    public const string ActiveTokens = "active_tokens";
    public const string MaskGrid = "mask_grid";
    public const string MaskTokens = "mask_tokens";
    public const string MaskFocusTokens = "mask_focus_tokens";
    public const string MaskFocusFraction = "mask_focus_fraction";
    public const string MaskFallback = "mask_fallback";
}
