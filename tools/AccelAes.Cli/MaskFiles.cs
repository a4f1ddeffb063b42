using System.Globalization;
using System.Text.Json;
using AccelAes.Engine.Acceleration.AesMask;
using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Loader.Files;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Cli;

/// <summary>
/// What <c>--save-mask PATH</c> writes: the overlay PNG at PATH (<see cref="MaskOverlay"/>), and beside it, named
/// after PATH without its extension, a <c>.safetensors</c> with the mask's maps as F32 [gridH, gridW] tensors and a
/// <c>.json</c> with the mask's statistics and the prompt's per-word anchor scores. Each goes through
/// <see cref="OutputFile"/>; <see cref="Declare"/> lists all three for <see cref="RunFiles"/> before anything loads.
/// </summary>
internal static class MaskFiles
{
    public const string Option = "--save-mask";
    public const string TensorsWhat = "--save-mask (mask tensors)";
    public const string ScoresWhat = "--save-mask (word scores)";

    /// <summary>Tensor names in the safetensors file (documented in README.md, "--save-mask").</summary>
    public const string Heat = "heat", HeatNormalised = "heat_normalised", Binary = "binary", Soft = "soft", Focus = "focus";

    public static string TensorsPath(string overlayPath) => Path.ChangeExtension(overlayPath, ".safetensors");

    public static string ScoresPath(string overlayPath) => Path.ChangeExtension(overlayPath, ".json");

    /// <summary>Adds the three outputs of <paramref name="overlayPath"/> (null: none) to <paramref name="files"/>.</summary>
    public static RunFiles Declare(RunFiles files, string? overlayPath) => overlayPath is null
        ? files
        : files.Output(overlayPath, Option).Output(TensorsPath(overlayPath), TensorsWhat).Output(ScoresPath(overlayPath), ScoresWhat);

    /// <summary>Writes the overlay, the tensors and the word scores of <paramref name="mask"/>; returns the paths written.</summary>
    public static IReadOnlyList<string> Write(string overlayPath, GenerationResult result, FocusMask mask)
    {
        PngOutput.Write(overlayPath, Option, MaskOverlay.Draw(result.Image, mask, result.PixelsPerToken),
            [new("Software", "AccelAes"), new("content", "AesMask focus overlay")]);
        string tensors = TensorsPath(overlayPath);
        WriteTensors(tensors, mask);
        string scores = ScoresPath(overlayPath);
        OutputFile.Write(scores, ScoresWhat, stream => WriteScores(stream, result, mask));
        return [overlayPath, tensors, scores];
    }

    private static void WriteTensors(string path, FocusMask mask)
    {
        var inv = CultureInfo.InvariantCulture;
        long[] shape = [mask.Height, mask.Width];
        // On fallback no threshold was cut: every token is in focus, so the binary map is all ones, like the soft one.
        float[] binary = mask.Binary is { } b ? b.Select(x => x ? 1f : 0f).ToArray() : Enumerable.Repeat(1f, mask.TokenCount).ToArray();
        new SafeTensorsWriter()
            .AddMetadata("format", "accelaes-mask")
            .AddMetadata("version", "1")
            .AddMetadata("fallback", mask.Fallback ? "true" : "false")
            .AddMetadata("threshold", double.IsNaN(mask.Threshold) ? "none" : mask.Threshold.ToString("R", inv))
            .AddMetadata("heat_std", mask.HeatStd.ToString("R", inv))
            .Add(Heat, shape, mask.Heat)
            .Add(HeatNormalised, shape, mask.HeatNormalised)
            .Add(Binary, shape, binary)
            .Add(Soft, shape, mask.Soft)
            .Add(Focus, shape, mask.IsFocus.Select(x => x ? 1f : 0f).ToArray())
            .Save(path, TensorsWhat);
    }

    private static void WriteScores(Stream stream, GenerationResult result, FocusMask mask)
    {
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteNumber("version", 1);
        json.WriteString("prompt", result.Request.Prompt);
        json.WriteStartObject("grid");
        json.WriteNumber("height", mask.Height);
        json.WriteNumber("width", mask.Width);
        json.WriteEndObject();
        json.WriteNumber("tokens", mask.TokenCount);
        json.WriteNumber("focus_tokens", mask.FocusIndices.Length);
        json.WriteNumber("focus_fraction", mask.FocusFraction);
        json.WriteBoolean("fallback", mask.Fallback);
        WriteNumberOrNull(json, "threshold", mask.Threshold); // NaN on fallback
        WriteNumberOrNull(json, "heat_std", mask.HeatStd); // NaN on a one-token grid
        WordScoresJson.Write(json, result);
        json.WriteEndObject();
    }

    private static void WriteNumberOrNull(Utf8JsonWriter json, string name, double value)
    {
        if (double.IsFinite(value)) json.WriteNumber(name, value);
        else json.WriteNull(name);
    }
}
