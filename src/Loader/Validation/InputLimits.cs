namespace AccelAes.Loader.Validation;

/// <summary>
/// Upper bounds on every count and size a user can type or a file can claim (DESIGN.md §7), checked before
/// anything is allocated. They sit far above every real model and run, and far below what would exhaust memory or
/// time: a value past one is a typo or a hostile file, and the error says which bound it broke. One table, used by
/// the CLI and the C ABI alike, so the two cannot disagree.
/// </summary>
public static class InputLimits
{
    // ---- What a user types (CLI options, C ABI fields) -------------------------------------------------

    /// <summary>Denoising steps. Real runs use 1–100; the schedulers' training grid has 1000 timesteps.</summary>
    public const int MaxSteps = 10_000;

    /// <summary>Image width or height in pixels. 8192² latents already need tens of GB of activations on every backbone.</summary>
    public const int MaxImageSide = 8192;

    /// <summary>A guidance scale's magnitude (real ones are 0–20; beyond this the output is numerically meaningless).</summary>
    public const float MaxGuidanceScale = 1000f;

    /// <summary>Token sequence lengths a user can ask for (tokenize --max-length, max_sequence_length). T5 takes 512, Gemma 256.</summary>
    public const int MaxSequenceLength = 16_384;

    /// <summary>Benchmark repetitions and warm-up runs.</summary>
    public const int MaxRepeat = 100_000;

    /// <summary>Split-KV attention's key splits (ACCELAES_ATTENTION_KV_SPLITS): the merge reads every split's partial per row.</summary>
    public const int MaxAttentionKvSplits = 16;

    /// <summary>Prompts an evaluation runs (`eval --prompts`). Pick-a-Pic's test split has ~500; DrawBench 200; PartiPrompts 1 600.</summary>
    public const int MaxEvalPrompts = 1_000_000;

    /// <summary>Seeds per prompt of an evaluation (`eval --seeds`). The paper uses 3.</summary>
    public const int MaxEvalSeeds = 10_000;

    // ---- What a file claims ----------------------------------------------------------------------------

    /// <summary>A JSON config (model_index.json, config.json, scheduler_config.json, tokenizer_config.json). Real ones are a few KB.</summary>
    public const long MaxConfigFileBytes = 16L << 20;

    /// <summary>A tokenizer file (vocab.json, merges.txt, tokenizer.json, spiece.model). Gemma's tokenizer.json is ~34 MB.</summary>
    public const long MaxTokenizerFileBytes = 512L << 20;

    /// <summary>A prompt list (`eval --prompts`: text, one prompt a line, or CSV). 1 000 000 prompts of 256 characters.</summary>
    public const long MaxPromptFileBytes = 256L << 20;

    /// <summary>Tokens in a vocabulary (including added and extra ids). Gemma has 256 000; T5 32 100.</summary>
    public const int MaxVocabularySize = 4_000_000;

    /// <summary>
    /// The text chunks of a PNG read back as a run record (<c>generate --from</c>), keys and values together, after any
    /// decompression. A record is a few KB; its step schedule grows by ~60 bytes a step (600 KB at <see cref="MaxSteps"/>).
    /// </summary>
    public const int MaxPngTextBytes = 16 << 20;

    /// <summary>A PNG read for its pixels (`score --image`, dense images an eval resumes with). An 8192² RGBA PNG stored uncompressed is 256 MiB.</summary>
    public const long MaxPngFileBytes = 512L << 20;

    /// <summary>Chunks a PNG may have when its text is read. Encoders split image data into 8–64 KB chunks: an 8192² image has a few thousand.</summary>
    public const int MaxPngChunks = 1_000_000;

    /// <summary>
    /// The pickle of a PyTorch checkpoint (<c>data.pkl</c>: names, shapes, strides, no tensor data). A 10 B-parameter
    /// state dict pickles to a few MB; the whole pickle is read into memory before it is interpreted.
    /// </summary>
    public const long MaxPickleBytes = 64L << 20;

    /// <summary>
    /// Objects a checkpoint pickle may hold on its stack or in its memo at once. A state dict memoizes a handful of
    /// objects per tensor (name, storage id, sizes, strides): a few hundred thousand for the largest real models.
    /// Without the bound a pickle of one-byte pushes could claim gigabytes of bookkeeping.
    /// </summary>
    public const int MaxPickleObjects = 10_000_000;

    /// <summary>
    /// Nesting of a checkpoint pickle: open MARKs while it is read, and dict-in-dict depth while its state dict is
    /// looked for. Real state dicts nest 1–3 deep (<c>{"state_dict": {...}}</c>); the bound stops recursion bombs.
    /// </summary>
    public const int MaxPickleNesting = 256;

    /// <summary>Tensors in one PyTorch checkpoint. The largest real state dicts hold tens of thousands.</summary>
    public const int MaxCheckpointTensors = 1_000_000;

    /// <summary>Dimensions of one tensor a checkpoint describes (torch itself caps tensors at 64).</summary>
    public const int MaxTensorRank = 64;

    // ---- Named input tensors and the sampling configs they meet (issue 14 classes 4 and 10) ------------

    /// <summary>
    /// The largest integer magnitude a float32 holds exactly (2^24). An integer tensor given where a model computes in
    /// floats (a timestep saved by <c>torch.tensor([500])</c>, an int64 mask, int latents) is converted only within it,
    /// and a float tensor given as token ids must hold whole numbers within it; beyond it the conversion would
    /// silently change the value. No real input comes near: timesteps are ≤ 1000, masks 0/1, position ids and token
    /// ids below <see cref="MaxVocabularySize"/>.
    /// </summary>
    public const int MaxExactFloatInteger = 1 << 24;

    /// <summary>
    /// Range of a flow-matching scheduler's static <c>shift</c> (σ' = s·σ / (1 + (s − 1)·σ)). Released models use
    /// 1–7; past 10³ (or below 10⁻³) every σ of the schedule is squeezed against 1 (or 0), and the float32 arithmetic
    /// the scheduler reproduces overflows to NaN long before the config's value stops being finite.
    /// </summary>
    public const double MinSchedulerShift = 1e-3, MaxSchedulerShift = 1e3;

    /// <summary>
    /// Largest |base_shift| / |max_shift|: they are μ, an exponent (σ' = e^μ / (e^μ + 1/σ − 1)). Released models use
    /// 0.5–1.16; e^20 already maps every σ above 10⁻⁸ to 1, and μ is extrapolated linearly in the token count.
    /// </summary>
    public const double MaxSchedulerShiftExponent = 20;

    /// <summary>
    /// Range of a VAE's |scaling_factor| (latents are divided by it before decoding). Released VAEs use 0.13–1.6;
    /// outside 10⁻³…10³ the decoder input leaves the range its weights were trained on by orders of magnitude.
    /// </summary>
    public const double MinVaeScalingFactor = 1e-3, MaxVaeScalingFactor = 1e3;

    /// <summary>Largest |shift_factor| of a VAE (added to the un-scaled latents; released VAEs use 0.06–0.16).</summary>
    public const double MaxVaeShiftFactor = 1e3;

    // ---- Output safety (RunFiles: outputs never overwrite inputs) ----------------------------------------

    /// <summary>
    /// Files of an input folder (such as --model) whose identity an existing output is compared with, to catch a
    /// symbolic or hard link into it. A model folder has tens; past this bound (a --model of "/") the check falls
    /// back to the folder's path alone.
    /// </summary>
    public const int MaxInputFolderFilesCompared = 100_000;

    // ---- Counts a tokenizer or model file claims (input files: issue 14 classes 5 and 6) ------------------

    /// <summary>T5's <c>extra_ids</c> sentinel tokens, each built as an added token at load. T5 has 100, ByT5 125.</summary>
    public const int MaxExtraIds = 10_000;

    /// <summary>
    /// A size-like config field (hidden size, number of layers or heads, channels, sample size, vocabulary size in a
    /// model config) that the engine allocates proportionally to before the weights are checked against it. The
    /// largest real value is a vocabulary (Gemma: 256 000); layers and heads are below 100, widths below 20 000.
    /// </summary>
    public const int MaxConfigDimension = 1 << 20;

    // ---- Images a scorer takes (issue 18) ----------------------------------------------------------------

    /// <summary>
    /// Long side / short side of an image a scorer resizes. Scorers scale the short side to their input (224 px), so the
    /// long side grows with the ratio: at 64:1 the resized image is 14 336 × 224 (9.6 MB); at the 8192:1 that
    /// <see cref="MaxImageSide"/> alone allows it would be 1.2 GB. Generated images stay below 4:1.
    /// </summary>
    public const double MaxScoredImageAspectRatio = 64;
}
