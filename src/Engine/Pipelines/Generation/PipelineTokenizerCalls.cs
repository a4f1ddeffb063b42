using AccelAes.Loader.Tokenizers;

namespace AccelAes.Engine.Pipelines.Generation;

/// <summary>One tokenizer of a text-to-image pipeline: its folder, the encoder it feeds, and the pipeline's call for the prompt.</summary>
/// <param name="Component">The tokenizer's folder in the pipeline (tokenizer, tokenizer_2, tokenizer_3).</param>
/// <param name="Encoder">What the ids feed, for messages ("CLIP-L", "T5", "Gemma").</param>
/// <param name="Call">The call the pipeline makes for the prompt.</param>
/// <param name="Description">The call in diffusers' words, for the CLI.</param>
public sealed record PipelineTokenizerCall(string Component, string Encoder, TokenizerCall Call, string Description)
{
    /// <summary>"tokenizer_2 (T5)": how warnings name the tokenizer.</summary>
    public string Label => $"{Component} ({Encoder})";
}

/// <summary>
/// The tokenizer calls of the supported pipelines, in one place, so that generation and <c>accelaes tokenize</c>
/// cannot disagree. Line numbers refer to the diffusers mirror at 58eb52c.
/// </summary>
public static class PipelineTokenizerCalls
{
    /// <summary>FluxPipeline's default <c>max_sequence_length</c> (pipeline_flux.py L628; at most 512, L502).</summary>
    public const int FluxMaxSequenceLength = 512;

    private static readonly PipelineTokenizerCall[] Sd3 =
    [
        new("tokenizer", "CLIP-L", TokenizerCall.Sd3Clip, "padding=\"max_length\", max_length=77, truncation=True"),
        new("tokenizer_2", "CLIP-G", TokenizerCall.Sd3Clip, "padding=\"max_length\", max_length=77, truncation=True"),
        new("tokenizer_3", "T5", TokenizerCall.Sd3T5, "padding=\"max_length\", max_length=256 (max_sequence_length), truncation=True"),
    ];

    // pipeline_flux.py _get_clip_prompt_embeds L280–287 (max_length = tokenizer.model_max_length, 77 for CLIP),
    // _get_t5_prompt_embeds L234–241.
    private static readonly PipelineTokenizerCall[] Flux =
    [
        new("tokenizer", "CLIP", TokenizerCall.FluxClip, "padding=\"max_length\", max_length=77, truncation=True"),
        new("tokenizer_2", "T5", TokenizerCall.FluxT5, "padding=\"max_length\", max_length=512 (max_sequence_length), truncation=True"),
    ];

    // lumina/pipeline_lumina.py _get_gemma_prompt_embeds L218–226.
    private static readonly PipelineTokenizerCall[] Lumina =
    [
        new("tokenizer", "Gemma", TokenizerCall.Lumina,
            "prompt.lower().strip(), then padding=True, pad_to_multiple_of=8, max_length=256, truncation=True"),
    ];

    /// <summary>The pipeline classes whose tokenizer calls are known.</summary>
    public static IReadOnlyList<string> Pipelines { get; } =
        ["StableDiffusion3Pipeline", "FluxPipeline", .. LuminaPipeline.PipelineClassNames];

    /// <summary>The tokenizers of <paramref name="pipelineClass"/> (model_index.json's <c>_class_name</c>), in folder order.</summary>
    public static IReadOnlyList<PipelineTokenizerCall> Of(string pipelineClass) => pipelineClass switch
    {
        "StableDiffusion3Pipeline" => Sd3,
        "FluxPipeline" => Flux,
        _ when LuminaPipeline.PipelineClassNames.Contains(pipelineClass) => Lumina,
        _ => throw new AccelAesException(
            $"No tokenizer calls are known for pipeline '{pipelineClass}'; known: {string.Join(", ", Pipelines)}."),
    };

    /// <summary>One tokenizer of <paramref name="pipelineClass"/>, or an error listing the ones it has.</summary>
    public static PipelineTokenizerCall Of(string pipelineClass, string component)
    {
        IReadOnlyList<PipelineTokenizerCall> all = Of(pipelineClass);
        return all.FirstOrDefault(c => c.Component == component) ?? throw new AccelAesException(
            $"{pipelineClass} has no '{component}'; its tokenizers are {string.Join(", ", all.Select(c => c.Label))}.");
    }

    /// <summary>
    /// The call for a lone tokenizer folder, chosen by its kind: CLIP as SD3 and FLUX call it (77 tokens), T5 as FLUX
    /// calls it (512 tokens; SD3 uses 256), Gemma as Lumina-Next calls it.
    /// </summary>
    public static PipelineTokenizerCall ForKind(TokenizerKind kind, string component = "tokenizer") => kind switch
    {
        TokenizerKind.Clip => Flux[0] with { Component = component },
        TokenizerKind.T5 => Flux[1] with { Component = component },
        TokenizerKind.Gemma => Lumina[0] with { Component = component },
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown tokenizer kind"),
    };
}
