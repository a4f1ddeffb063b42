using System.Text.Json;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Validation;

namespace AccelAes.Loader.Images;

/// <summary>
/// transformers <c>CLIPImageProcessor</c>'s settings from a <c>preprocessor_config.json</c>, with its constructor
/// defaults for absent fields (ViT-L/14 sizes, OpenAI mean/std). Both spellings transformers reads are accepted:
/// the current <c>size: {"shortest_edge": S}</c> / <c>crop_size: {"height": H, "width": W}</c>, and the older
/// <c>CLIPFeatureExtractor</c> integers (<c>size: 224</c> is a shortest edge for CLIP, <c>crop_size: 224</c> a square).
/// A <c>size</c> with height and width resizes to exactly that size. Only <c>resample: 3</c> (bicubic) is
/// implemented; other filters are refused by name.
/// </summary>
public sealed record ClipImageProcessorConfig
{
    public const string FileName = "preprocessor_config.json";
    public const int Bicubic = 3;

    public static IReadOnlyList<double> OpenAiMean { get; } = [0.48145466, 0.4578275, 0.40821073];
    public static IReadOnlyList<double> OpenAiStd { get; } = [0.26862954, 0.26130258, 0.27577711];

    public bool DoResize { get; init; } = true;
    /// <summary>Resize so the shorter side is this (aspect kept, the longer side truncated); null when <see cref="ResizeHeight"/>/<see cref="ResizeWidth"/> are set.</summary>
    public int? ShortestEdge { get; init; } = 224;
    public int? ResizeHeight { get; init; }
    public int? ResizeWidth { get; init; }
    public bool DoCenterCrop { get; init; } = true;
    public int CropHeight { get; init; } = 224;
    public int CropWidth { get; init; } = 224;
    public bool DoRescale { get; init; } = true;
    public double RescaleFactor { get; init; } = 1.0 / 255;
    public bool DoNormalize { get; init; } = true;
    public IReadOnlyList<double> ImageMean { get; init; } = OpenAiMean;
    public IReadOnlyList<double> ImageStd { get; init; } = OpenAiStd;

    /// <summary>Where the settings came from, for messages.</summary>
    public string Source { get; init; } = "CLIPImageProcessor defaults";

    /// <summary>Reads <paramref name="path"/>: a preprocessor_config.json, or a folder holding one.</summary>
    public static ClipImageProcessorConfig Load(string path)
    {
        string file = Directory.Exists(path) ? Path.Combine(path, FileName) : path;
        return From(JsonConfig.Load(file));
    }

    public static ClipImageProcessorConfig From(JsonConfig c)
    {
        var d = new ClipImageProcessorConfig();
        int resample = c.GetInt("resample", Bicubic);
        if (resample != Bicubic)
            throw c.Unsupported("resample", resample, "only 3 (PIL bicubic, what CLIP uses) is implemented");
        var cfg = new ClipImageProcessorConfig
        {
            Source = c.FilePath,
            DoResize = c.GetBool("do_resize", d.DoResize),
            DoCenterCrop = c.GetBool("do_center_crop", d.DoCenterCrop),
            DoRescale = c.GetBool("do_rescale", d.DoRescale),
            RescaleFactor = c.GetDouble("rescale_factor", d.RescaleFactor),
            DoNormalize = c.GetBool("do_normalize", d.DoNormalize),
            ImageMean = PerChannel(c, "image_mean", d.ImageMean),
            ImageStd = PerChannel(c, "image_std", d.ImageStd),
        };
        cfg = ReadSize(c, cfg);
        cfg = ReadCropSize(c, cfg);
        cfg.Validate(c);
        return cfg;
    }

    private static ClipImageProcessorConfig ReadSize(JsonConfig c, ClipImageProcessorConfig cfg)
    {
        switch (KindOf(c, "size"))
        {
            case JsonValueKind.Number:
                return cfg with { ShortestEdge = c.GetInt("size") };
            case JsonValueKind.Object:
                JsonConfig size = c.GetObject("size");
                if (size.Has("shortest_edge")) return cfg with { ShortestEdge = size.GetInt("shortest_edge") };
                if (size.Has("height") && size.Has("width"))
                    return cfg with { ShortestEdge = null, ResizeHeight = size.GetInt("height"), ResizeWidth = size.GetInt("width") };
                throw c.Unsupported("size", "{" + string.Join(", ", size.Keys) + "}",
                    "CLIPImageProcessor takes {\"shortest_edge\": S} or {\"height\": H, \"width\": W}");
            default:
                return cfg;
        }
    }

    private static ClipImageProcessorConfig ReadCropSize(JsonConfig c, ClipImageProcessorConfig cfg)
    {
        switch (KindOf(c, "crop_size"))
        {
            case JsonValueKind.Number:
                int side = c.GetInt("crop_size");
                return cfg with { CropHeight = side, CropWidth = side };
            case JsonValueKind.Object:
                JsonConfig crop = c.GetObject("crop_size");
                return cfg with { CropHeight = crop.GetInt("height"), CropWidth = crop.GetInt("width") };
            default:
                return cfg;
        }
    }

    /// <summary>A per-channel list, or one number for every channel (transformers broadcasts a scalar).</summary>
    private static IReadOnlyList<double> PerChannel(JsonConfig c, string field, IReadOnlyList<double> defaultValue)
    {
        if (KindOf(c, field) == JsonValueKind.Number) return Enumerable.Repeat(c.GetDouble(field), 3).ToArray();
        double[]? values = c.GetOptionalDoubleArray(field);
        if (values is null) return defaultValue;
        if (values.Length != 3) throw c.Unsupported(field, $"[{string.Join(", ", values)}]", "it needs one value per RGB channel (3)");
        return values;
    }

    /// <summary>The JSON kind of <paramref name="field"/> (Undefined when absent): size and crop_size come in two shapes.</summary>
    private static JsonValueKind KindOf(JsonConfig c, string field)
    {
        foreach (JsonProperty p in c.Fields)
            if (p.Name == field) return p.Value.ValueKind;
        return JsonValueKind.Undefined;
    }

    private void Validate(JsonConfig c)
    {
        string file = Path.GetFileName(c.FilePath);
        if (ShortestEdge is int s) ValueChecks.Count(s, $"{file} size.shortest_edge", 1, InputLimits.MaxImageSide);
        if (ResizeHeight is int h) ValueChecks.Count(h, $"{file} size.height", 1, InputLimits.MaxImageSide);
        if (ResizeWidth is int w) ValueChecks.Count(w, $"{file} size.width", 1, InputLimits.MaxImageSide);
        ValueChecks.Count(CropHeight, $"{file} crop_size.height", 1, InputLimits.MaxImageSide);
        ValueChecks.Count(CropWidth, $"{file} crop_size.width", 1, InputLimits.MaxImageSide);
        ValueChecks.Finite(RescaleFactor, $"{file} rescale_factor", -1e6, 1e6);
        for (int i = 0; i < 3; i++)
        {
            ValueChecks.Finite(ImageMean[i], $"{file} image_mean[{i}]", -1e6, 1e6);
            ValueChecks.Finite(ImageStd[i], $"{file} image_std[{i}]", -1e6, 1e6);
            if (ImageStd[i] == 0) throw c.Unsupported("image_std", ImageStd[i], "a standard deviation of 0 divides by zero");
        }
    }
}
