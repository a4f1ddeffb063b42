using System.Text.Json;
using AccelAes.Loader.Files;
using AccelAes.Loader.Validation;

namespace AccelAes.Loader.Tokenizers;

/// <summary>The tokenizers of a diffusers model folder, by component name.</summary>
/// <param name="Tokenizer"><c>tokenizer/</c>: CLIP-L (SD3, FLUX) or Gemma (Lumina-Next).</param>
/// <param name="Tokenizer2"><c>tokenizer_2/</c>: CLIP-G (SD3) or T5 (FLUX).</param>
/// <param name="Tokenizer3"><c>tokenizer_3/</c>: T5 (SD3).</param>
public sealed record DiffusersTokenizers(IPromptTokenizer? Tokenizer, IPromptTokenizer? Tokenizer2, IPromptTokenizer? Tokenizer3);

/// <summary>
/// Finds and loads tokenizers in transformers / diffusers folders, telling CLIP, T5 and Gemma apart by
/// tokenizer_config.json's <c>tokenizer_class</c> when it is there, else by the files present.
/// </summary>
public static class TokenizerFactory
{
    public const string FastTokenizerFile = "tokenizer.json";

    /// <summary>The component folders a diffusers pipeline keeps its tokenizers in.</summary>
    public static IReadOnlyList<string> ComponentFolders { get; } = ["tokenizer", "tokenizer_2", "tokenizer_3"];

    /// <summary>Loads the tokenizer in <paramref name="folder"/>, whichever kind it is.</summary>
    public static IPromptTokenizer FromFolder(string folder, TokenizerOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(folder);
        options ??= new TokenizerOptions();
        TokenizerKind kind = DetectKind(folder);
        return kind switch
        {
            TokenizerKind.Clip => ClipTokenizer.FromFolder(folder, options),
            TokenizerKind.T5 => T5Tokenizer.FromFolder(folder, options),
            TokenizerKind.Gemma => GemmaTokenizer.FromFolder(folder, options),
            _ => throw new InvalidOperationException($"unhandled tokenizer kind {kind}"),
        };
    }

    /// <summary>
    /// Loads <c>tokenizer/</c>, <c>tokenizer_2/</c> and <c>tokenizer_3/</c> of a diffusers model folder,
    /// those that exist. model_index.json's component classes are used when a folder does not name its class.
    /// </summary>
    public static DiffusersTokenizers FromModelFolder(string modelFolder)
    {
        ArgumentNullException.ThrowIfNull(modelFolder);
        if (!Directory.Exists(modelFolder)) throw new TokenizerException($"Model folder '{modelFolder}' does not exist.");
        Dictionary<string, string> classes = ReadModelIndexClasses(modelFolder);
        var loaded = new IPromptTokenizer?[ComponentFolders.Count];
        for (int i = 0; i < ComponentFolders.Count; i++)
        {
            string folder = Path.Combine(modelFolder, ComponentFolders[i]);
            if (!Directory.Exists(folder)) continue;
            TokenizerKind kind = DetectKind(folder, classes.GetValueOrDefault(ComponentFolders[i]));
            loaded[i] = kind switch
            {
                TokenizerKind.Clip => ClipTokenizer.FromFolder(folder),
                TokenizerKind.T5 => T5Tokenizer.FromFolder(folder),
                _ => GemmaTokenizer.FromFolder(folder),
            };
        }

        if (loaded.All(t => t is null))
        {
            throw new TokenizerException(
                $"Model folder '{modelFolder}' has no tokenizer folder (looked for {string.Join(", ", ComponentFolders.Select(c => c + "/"))}).");
        }

        return new DiffusersTokenizers(loaded[0], loaded[1], loaded[2]);
    }

    /// <summary>
    /// Which tokenizer a folder holds: tokenizer_config.json's <c>tokenizer_class</c> (or
    /// <paramref name="classHint"/>, e.g. from model_index.json), else the files: vocab.json + merges.txt
    /// (CLIP), spiece.model (T5), tokenizer.model (T5 if it is a unigram model, Gemma if BPE), tokenizer.json
    /// (CLIP's BPE only).
    /// </summary>
    public static TokenizerKind DetectKind(string folder, string? classHint = null)
    {
        ArgumentNullException.ThrowIfNull(folder);
        if (!Directory.Exists(folder)) throw new TokenizerException($"Tokenizer folder '{folder}' does not exist.");
        string? tokenizerClass = TokenizerFolderConfig.Read(folder).TokenizerClass ?? classHint;
        if (tokenizerClass is not null)
        {
            string name = tokenizerClass.EndsWith("Fast", StringComparison.Ordinal) ? tokenizerClass[..^4] : tokenizerClass;
            return name switch
            {
                "CLIPTokenizer" => TokenizerKind.Clip,
                "T5Tokenizer" => TokenizerKind.T5,
                "GemmaTokenizer" => TokenizerKind.Gemma,
                _ => throw new TokenizerException(
                    $"Tokenizer folder '{folder}' is a '{tokenizerClass}'; supported are CLIPTokenizer, T5Tokenizer and GemmaTokenizer (and their Fast variants)."),
            };
        }

        bool Has(string file) => InputFile.Exists(Path.Combine(folder, file));
        if (Has(ClipTokenizer.VocabFile) && Has(ClipTokenizer.MergesFile)) return TokenizerKind.Clip;
        if (Has(T5Tokenizer.ModelFile)) return TokenizerKind.T5;
        if (Has(GemmaTokenizer.ModelFile))
        {
            SentencePieceModelFile model = SentencePieceModelFile.Read(Path.Combine(folder, GemmaTokenizer.ModelFile));
            return model.IsUnigram ? TokenizerKind.T5 : TokenizerKind.Gemma;
        }

        if (Has(FastTokenizerFile))
        {
            string path = Path.Combine(folder, FastTokenizerFile);
            using JsonDocument doc = TokenizerFolderConfig.ParseJson(path);
            JsonElement root = doc.RootElement;
            JsonElement model = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("model", out JsonElement m) ? m : default;
            string? type = model.ValueKind == JsonValueKind.Object && model.TryGetProperty("type", out JsonElement t)
                && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
            bool clipLike = type == "BPE" && model.TryGetProperty("end_of_word_suffix", out JsonElement suffix)
                && suffix.ValueKind == JsonValueKind.String && suffix.GetString() == "</w>";
            if (clipLike) return TokenizerKind.Clip;
            throw new TokenizerException(
                $"Tokenizer folder '{folder}' only has {FastTokenizerFile} (a fast-tokenizer file with a '{type ?? "unknown"}' model). "
                + "Microsoft.ML.Tokenizers 2.0.1 cannot build a SentencePiece tokenizer from it; put the SentencePiece model "
                + $"({T5Tokenizer.ModelFile} for T5, {GemmaTokenizer.ModelFile} for Gemma) from the original repository next to it.");
        }

        throw new TokenizerException(
            $"Tokenizer folder '{folder}' has no tokenizer files (looked for {ClipTokenizer.VocabFile} + {ClipTokenizer.MergesFile}, "
            + $"{T5Tokenizer.ModelFile}, {GemmaTokenizer.ModelFile}, {FastTokenizerFile}).");
    }

    private static Dictionary<string, string> ReadModelIndexClasses(string modelFolder)
    {
        var classes = new Dictionary<string, string>(StringComparer.Ordinal);
        string path = Path.Combine(modelFolder, "model_index.json");
        if (!InputFile.Exists(path)) return classes;
        using JsonDocument doc = TokenizerFolderConfig.ParseJson(path, InputLimits.MaxConfigFileBytes);
        if (doc.RootElement.ValueKind != JsonValueKind.Object) return classes;
        foreach (string component in ComponentFolders)
        {
            // "tokenizer": ["transformers", "CLIPTokenizer"]
            if (doc.RootElement.TryGetProperty(component, out JsonElement e) && e.ValueKind == JsonValueKind.Array
                && e.GetArrayLength() == 2 && e[1].ValueKind == JsonValueKind.String)
            {
                classes[component] = e[1].GetString()!;
            }
        }

        return classes;
    }
}
