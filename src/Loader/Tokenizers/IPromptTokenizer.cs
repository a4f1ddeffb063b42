namespace AccelAes.Loader.Tokenizers;

/// <summary>The tokenizer families the engine's text encoders use.</summary>
public enum TokenizerKind
{
    /// <summary>CLIP byte-level BPE (transformers <c>CLIPTokenizer</c>).</summary>
    Clip,

    /// <summary>T5 SentencePiece unigram (transformers <c>T5Tokenizer</c>, legacy behaviour).</summary>
    T5,

    /// <summary>Gemma SentencePiece BPE with byte fallback (transformers <c>GemmaTokenizer</c>).</summary>
    Gemma,

    /// <summary>BERT WordPiece, uncased (transformers <c>BertTokenizer</c>; BLIP's tokenizer in ImageReward).</summary>
    Bert,
}

/// <summary>
/// A prompt tokenizer that reproduces the ids of the HuggingFace transformers tokenizer it stands for.
/// Instances are immutable and safe to share between threads.
/// </summary>
public interface IPromptTokenizer
{
    TokenizerKind Kind { get; }

    /// <summary>The folder (or file) the tokenizer was loaded from, for messages.</summary>
    string Source { get; }

    /// <summary>The id used for padding (<c>pad_token_id</c>); null when the tokenizer has none.</summary>
    int? PadTokenId { get; }

    /// <summary>The side padding goes to when a call does not say (tokenizer_config.json or class default).</summary>
    PaddingSide PaddingSide { get; }

    /// <summary><c>model_max_length</c> from tokenizer_config.json, or the class default; null when unbounded.</summary>
    int? ModelMaxLength { get; }

    /// <summary>Tokenizes one prompt.</summary>
    TokenizedPrompt Encode(string prompt, TokenizerCall call);

    /// <summary>
    /// Tokenizes a batch; with <see cref="PaddingStrategy.Longest"/> all prompts are padded to the longest
    /// one (rounded up to <see cref="TokenizerCall.PadToMultipleOf"/>), as transformers pads a batch.
    /// </summary>
    IReadOnlyList<TokenizedPrompt> EncodeBatch(IReadOnlyList<string> prompts, TokenizerCall call);

    /// <summary>The content ids of a text: no special tokens added, no truncation, no padding.</summary>
    int[] EncodeToIds(string text);

    /// <summary>The token strings of a text, as transformers' <c>tokenizer.tokenize(text)</c> lists them.</summary>
    IReadOnlyList<string> Tokenize(string text);
}
