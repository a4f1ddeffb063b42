namespace AccelAes.Loader.Tokenizers;

/// <summary>How a batch is padded; the names of transformers' <c>padding=</c> argument.</summary>
public enum PaddingStrategy
{
    /// <summary><c>padding=False</c> (<c>"do_not_pad"</c>): every prompt keeps its own length.</summary>
    None,

    /// <summary><c>padding=True</c> (<c>"longest"</c>): pad to the longest prompt of the batch.</summary>
    Longest,

    /// <summary><c>padding="max_length"</c>: pad to <see cref="TokenizerCall.MaxLength"/>.</summary>
    MaxLength,
}

/// <summary>Which end of the sequence padding goes to (transformers' <c>padding_side</c>).</summary>
public enum PaddingSide
{
    Right,
    Left,
}

/// <summary>What a pipeline does to the prompt text before it reaches the tokenizer.</summary>
public enum PromptPreprocessing
{
    /// <summary>The prompt is tokenized as given (SD3, FLUX; Lumina's negative prompt).</summary>
    None,

    /// <summary>
    /// Python <c>text.lower().strip()</c>: the Lumina pipeline's <c>_text_preprocessing</c> when caption
    /// cleaning is off or unavailable (it needs bs4 and ftfy; without them diffusers falls back to this).
    /// </summary>
    LowerCaseAndStrip,
}

/// <summary>
/// One tokenizer call, in the terms of transformers' <c>tokenizer(prompt, padding=..., max_length=...,
/// truncation=..., pad_to_multiple_of=..., add_special_tokens=...)</c>, so that each diffusers pipeline's
/// call can be written down exactly. The presets are the calls of the pipelines this engine runs.
/// </summary>
public sealed record TokenizerCall
{
    /// <summary>
    /// <c>max_length</c>: the padding length for <see cref="PaddingStrategy.MaxLength"/> and the truncation
    /// limit (special tokens included). Null means the tokenizer's <c>model_max_length</c>.
    /// </summary>
    public int? MaxLength { get; init; }

    public PaddingStrategy Padding { get; init; } = PaddingStrategy.None;

    /// <summary>
    /// <c>truncation=True</c>: drop content tokens from the end (or the tokenizer's truncation side) so that
    /// the sequence, special tokens included, fits <see cref="MaxLength"/>. The end-of-sequence token is kept.
    /// </summary>
    public bool Truncation { get; init; }

    /// <summary><c>pad_to_multiple_of</c>: round the padded length up to a multiple of this.</summary>
    public int? PadToMultipleOf { get; init; }

    /// <summary><c>add_special_tokens</c> (bos/eos as the tokenizer defines them).</summary>
    public bool AddSpecialTokens { get; init; } = true;

    /// <summary>Overrides the tokenizer's padding side (its tokenizer_config.json or class default).</summary>
    public PaddingSide? PaddingSide { get; init; }

    /// <summary>Text preprocessing the pipeline applies before tokenizing.</summary>
    public PromptPreprocessing Preprocessing { get; init; } = PromptPreprocessing.None;

    /// <summary><c>tokenizer(prompt, padding="max_length", max_length=n, truncation=True)</c>.</summary>
    public static TokenizerCall PaddedTo(int maxLength) =>
        new() { MaxLength = maxLength, Padding = PaddingStrategy.MaxLength, Truncation = true };

    /// <summary>
    /// <c>tokenizer(prompt)</c>: no padding, no truncation. What the pipelines call "untruncated_ids"
    /// (with <c>padding="longest"</c>, which changes nothing for one prompt).
    /// </summary>
    public static TokenizerCall Untruncated { get; } = new();

    /// <summary>
    /// SD3 <c>_get_clip_prompt_embeds</c>, for both CLIP tokenizers: <c>padding="max_length",
    /// max_length=self.tokenizer_max_length (= tokenizer.model_max_length, 77), truncation=True</c>.
    /// No attention mask reaches the encoder.
    /// </summary>
    public static TokenizerCall Sd3Clip { get; } = PaddedTo(77);

    /// <summary>
    /// SD3 <c>_get_t5_prompt_embeds</c>: <c>padding="max_length", max_length=max_sequence_length (256 by
    /// default, at most 512), truncation=True, add_special_tokens=True</c>. No attention mask.
    /// </summary>
    public static TokenizerCall Sd3T5 { get; } = PaddedTo(256);

    /// <summary>FLUX <c>_get_clip_prompt_embeds</c>: <c>padding="max_length", max_length=77, truncation=True</c>.</summary>
    public static TokenizerCall FluxClip { get; } = PaddedTo(77);

    /// <summary>
    /// FLUX <c>_get_t5_prompt_embeds</c>: <c>padding="max_length", max_length=max_sequence_length (512 by
    /// default; FLUX.1-schnell is usually run with 256), truncation=True</c>. No attention mask.
    /// </summary>
    public static TokenizerCall FluxT5 { get; } = PaddedTo(512);

    /// <summary>
    /// Lumina-Next <c>_get_gemma_prompt_embeds</c>: the prompts are first lower-cased and stripped
    /// (<c>_text_preprocessing</c> without caption cleaning), then <c>tokenizer(prompts, pad_to_multiple_of=8,
    /// max_length=256, truncation=True, padding=True)</c>: the batch is padded to its longest prompt, rounded up
    /// to a multiple of 8. Use <see cref="IPromptTokenizer.EncodeBatch"/> so the batch pads together, and
    /// <see cref="LuminaNegative"/> for the unconditional prompts.
    /// </summary>
    public static TokenizerCall Lumina { get; } = new()
    {
        MaxLength = 256,
        Padding = PaddingStrategy.Longest,
        PadToMultipleOf = 8,
        Truncation = true,
        Preprocessing = PromptPreprocessing.LowerCaseAndStrip,
    };

    /// <summary>
    /// Lumina-Next <c>encode_prompt</c>'s negative prompts: <c>tokenizer(negative_prompt, padding="max_length",
    /// max_length=prompt_embeds.shape[1], truncation=True)</c>, i.e. padded (or truncated) to the length of the
    /// conditional batch, and NOT lower-cased or stripped.
    /// </summary>
    public static TokenizerCall LuminaNegative(int conditionalLength) => PaddedTo(conditionalLength);
}
