using System.Text.Json;
using AccelAes.Loader.Files;
using AccelAes.Loader.Validation;

namespace AccelAes.Loader.Tokenizers;

/// <summary>A special or added token as a transformers config file writes it: a string or an AddedToken object.</summary>
internal sealed record TokenSpec(string Content, bool? LStrip = null, bool? RStrip = null, bool? SingleWord = null, bool? Special = null);

/// <summary>
/// What a transformers tokenizer folder says besides the vocabulary: <c>tokenizer_config.json</c>,
/// <c>special_tokens_map.json</c> and <c>added_tokens.json</c>, each optional. Values from
/// special_tokens_map.json win over tokenizer_config.json, as in <c>from_pretrained</c>.
/// </summary>
internal sealed class TokenizerFolderConfig
{
    public const string TokenizerConfigFile = "tokenizer_config.json";
    public const string SpecialTokensMapFile = "special_tokens_map.json";
    public const string AddedTokensFile = "added_tokens.json";

    public string? TokenizerClass { get; private set; }

    /// <summary><c>model_max_length</c>; null when absent or "unbounded" (transformers writes 1e30).</summary>
    public int? ModelMaxLength { get; private set; }

    public PaddingSide? PaddingSide { get; private set; }

    public bool TruncateLeft { get; private set; }

    public TokenSpec? BosToken { get; private set; }
    public TokenSpec? EosToken { get; private set; }
    public TokenSpec? UnkToken { get; private set; }
    public TokenSpec? PadToken { get; private set; }
    public bool HasBosToken { get; private set; }
    public bool HasEosToken { get; private set; }
    public bool HasUnkToken { get; private set; }
    public bool HasPadToken { get; private set; }

    public List<TokenSpec> AdditionalSpecialTokens { get; } = new();

    /// <summary>added_tokens.json then tokenizer_config.json's <c>added_tokens_decoder</c>, by id.</summary>
    public SortedDictionary<int, TokenSpec> AddedTokens { get; } = new();

    public bool? AddBosToken { get; private set; }
    public bool? AddEosToken { get; private set; }
    public int? ExtraIds { get; private set; }

    /// <summary>Reads whichever of the three files exist in <paramref name="folder"/>.</summary>
    public static TokenizerFolderConfig Read(string folder)
    {
        var config = new TokenizerFolderConfig();

        string addedPath = Path.Combine(folder, AddedTokensFile);
        if (InputFile.Exists(addedPath))
        {
            using JsonDocument doc = ParseJson(addedPath, InputLimits.MaxConfigFileBytes);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Bad(addedPath, "expected a JSON object {token: id}");
            foreach (JsonProperty p in doc.RootElement.EnumerateObject())
            {
                int id = ReadId(p.Value, addedPath, $"token '{p.Name}'");
                config.AddedTokens[id] = new TokenSpec(p.Name);
            }
        }

        string configPath = Path.Combine(folder, TokenizerConfigFile);
        if (InputFile.Exists(configPath))
        {
            using JsonDocument doc = ParseJson(configPath, InputLimits.MaxConfigFileBytes);
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw Bad(configPath, "expected a JSON object");
            config.ApplySpecialTokens(root, configPath);
            if (root.TryGetProperty("tokenizer_class", out JsonElement cls) && cls.ValueKind == JsonValueKind.String)
                config.TokenizerClass = cls.GetString();
            if (root.TryGetProperty("model_max_length", out JsonElement mml) && mml.ValueKind == JsonValueKind.Number)
                config.ModelMaxLength = mml.TryGetInt32(out int m) && m > 0 ? m : null;
            if (root.TryGetProperty("padding_side", out JsonElement ps) && ps.ValueKind == JsonValueKind.String)
            {
                config.PaddingSide = ps.GetString() switch
                {
                    "right" => Tokenizers.PaddingSide.Right,
                    "left" => Tokenizers.PaddingSide.Left,
                    var other => throw Bad(configPath, $"padding_side '{other}' is neither 'right' nor 'left'"),
                };
            }

            if (root.TryGetProperty("truncation_side", out JsonElement ts) && ts.ValueKind == JsonValueKind.String)
            {
                config.TruncateLeft = ts.GetString() switch
                {
                    "right" => false,
                    "left" => true,
                    var other => throw Bad(configPath, $"truncation_side '{other}' is neither 'right' nor 'left'"),
                };
            }

            config.AddBosToken = GetBool(root, "add_bos_token");
            config.AddEosToken = GetBool(root, "add_eos_token");
            if (root.TryGetProperty("extra_ids", out JsonElement extra) && extra.ValueKind == JsonValueKind.Number)
            {
                if (!extra.TryGetInt32(out int n) || n < 0) throw Bad(configPath, "extra_ids is not a non-negative integer");
                // Each extra id becomes a sentinel token built at load; checked before any is made.
                if (n > InputLimits.MaxExtraIds)
                    throw Bad(configPath, $"extra_ids is {n}, more than the limit of {InputLimits.MaxExtraIds} sentinel tokens");
                config.ExtraIds = n;
            }

            if (root.TryGetProperty("added_tokens_decoder", out JsonElement decoder) && decoder.ValueKind == JsonValueKind.Object)
            {
                foreach (JsonProperty p in decoder.EnumerateObject())
                {
                    if (!int.TryParse(p.Name, out int id) || id < 0 || id >= InputLimits.MaxVocabularySize)
                        throw Bad(configPath, $"added_tokens_decoder key '{p.Name}' is not an id below {InputLimits.MaxVocabularySize}");
                    config.AddedTokens[id] = ReadToken(p.Value, configPath, $"added_tokens_decoder[{p.Name}]")
                        ?? throw Bad(configPath, $"added_tokens_decoder[{p.Name}] has no content");
                }
            }
        }

        string mapPath = Path.Combine(folder, SpecialTokensMapFile);
        if (InputFile.Exists(mapPath))
        {
            using JsonDocument doc = ParseJson(mapPath, InputLimits.MaxConfigFileBytes);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Bad(mapPath, "expected a JSON object");
            config.ApplySpecialTokens(doc.RootElement, mapPath);
        }

        return config;
    }

    /// <summary>
    /// tokenizer.json's <c>added_tokens</c> list, which transformers uses when tokenizer_config.json has no
    /// <c>added_tokens_decoder</c>.
    /// </summary>
    public void AddFastTokenizerAddedTokens(JsonElement list, string path)
    {
        int i = 0;
        foreach (JsonElement item in list.EnumerateArray())
        {
            if (!item.TryGetProperty("id", out JsonElement idElement)) throw Bad(path, $"added_tokens[{i}] has no valid id");
            int id = ReadId(idElement, path, $"added_tokens[{i}]");
            AddedTokens[id] = ReadToken(item, path, $"added_tokens[{i}]") ?? throw Bad(path, $"added_tokens[{i}] has no content");
            i++;
        }
    }

    private void ApplySpecialTokens(JsonElement root, string path)
    {
        if (root.TryGetProperty("bos_token", out JsonElement e)) { BosToken = ReadToken(e, path, "bos_token"); HasBosToken = true; }
        if (root.TryGetProperty("eos_token", out e)) { EosToken = ReadToken(e, path, "eos_token"); HasEosToken = true; }
        if (root.TryGetProperty("unk_token", out e)) { UnkToken = ReadToken(e, path, "unk_token"); HasUnkToken = true; }
        if (root.TryGetProperty("pad_token", out e)) { PadToken = ReadToken(e, path, "pad_token"); HasPadToken = true; }
        if (root.TryGetProperty("additional_special_tokens", out e) && e.ValueKind == JsonValueKind.Array)
        {
            AdditionalSpecialTokens.Clear();
            int i = 0;
            foreach (JsonElement item in e.EnumerateArray())
            {
                TokenSpec? t = ReadToken(item, path, $"additional_special_tokens[{i++}]");
                if (t is not null) AdditionalSpecialTokens.Add(t);
            }
        }
    }

    private static TokenSpec? ReadToken(JsonElement e, string path, string field)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Null:
                return null;
            case JsonValueKind.String:
                return new TokenSpec(e.GetString()!);
            case JsonValueKind.Object:
                if (!e.TryGetProperty("content", out JsonElement content) || content.ValueKind != JsonValueKind.String)
                    throw Bad(path, $"{field} has no string 'content'");
                return new TokenSpec(
                    content.GetString()!,
                    GetBool(e, "lstrip"),
                    GetBool(e, "rstrip"),
                    GetBool(e, "single_word"),
                    GetBool(e, "special"));
            default:
                throw Bad(path, $"{field} is neither a string nor a token object");
        }
    }

    private static bool? GetBool(JsonElement e, string name) =>
        e.TryGetProperty(name, out JsonElement v) && (v.ValueKind == JsonValueKind.True || v.ValueKind == JsonValueKind.False)
            ? v.GetBoolean()
            : null;

    /// <summary>
    /// A token id as a file gives it: a JSON integer in [0, <see cref="InputLimits.MaxVocabularySize"/>); anything else
    /// (a string, a fraction, a huge number) is refused naming the file and the entry.
    /// </summary>
    internal static int ReadId(JsonElement value, string path, string entry)
    {
        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out int id) && id >= 0 && id < InputLimits.MaxVocabularySize)
            return id;
        throw Bad(path, $"{entry} has id {value.GetRawText()}, expected an integer from 0 to {InputLimits.MaxVocabularySize - 1}");
    }

    /// <summary>
    /// Reads a tokenizer JSON file through <see cref="InputFile"/> (regular files only): vocabularies and tokenizer.json
    /// up to <see cref="InputLimits.MaxTokenizerFileBytes"/>, the small config files up to <paramref name="maxBytes"/>
    /// = <see cref="InputLimits.MaxConfigFileBytes"/>.
    /// </summary>
    internal static JsonDocument ParseJson(string path, long maxBytes = InputLimits.MaxTokenizerFileBytes)
    {
        try
        {
            byte[] bytes = InputFile.ReadAllBytes(path, maxBytes, "Tokenizer file");
            return JsonDocument.Parse(bytes, new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new TokenizerException($"Tokenizer file '{path}' is not valid JSON: {e.Message}", e);
        }
        catch (IOException e)
        {
            throw new TokenizerException($"Tokenizer file '{path}' cannot be read: {e.Message}", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new TokenizerException($"Tokenizer file '{path}' cannot be read: {e.Message}", e);
        }
    }

    private static TokenizerException Bad(string path, string what) => new($"Tokenizer file '{path}': {what}.");
}
