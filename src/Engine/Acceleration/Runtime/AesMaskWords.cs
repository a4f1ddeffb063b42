using AccelAes.Engine.Acceleration.AesMask;

namespace AccelAes.Engine.Acceleration.Runtime;

/// <summary>One text encoder's words and their anchor scores, as AesMask weighed them.</summary>
/// <param name="Encoder">The pipeline component whose tokens were scored (e.g. <c>tokenizer (CLIP-L)</c>).</param>
/// <param name="Scores">Its words, stop-word flags, similarities, the rule's branch and per-position importance.</param>
public sealed record EncoderWordScores(string Encoder, TokenImportanceResult Scores);

/// <summary>
/// AesMask's view of a prompt: the text-key weights the heat map uses (<see cref="PromptWeights.TextKeys"/>) and, per
/// encoder, the word scores behind them (for run records and <c>--save-mask</c>).
/// </summary>
/// <param name="Weights">One weight per text key column, in the transformer's column order.</param>
/// <param name="Encoders">The scored encoders (empty when no encoder could score words).</param>
public sealed record AesMaskWords(float[] Weights, IReadOnlyList<EncoderWordScores> Encoders)
{
    /// <summary>Scores each segment's words and lays the weights out under the options' token weighting.</summary>
    /// <param name="segments">Per text-key segment, in column order: the encoder's label and its scores (null label: a blank segment, not reported).</param>
    public static AesMaskWords From(IReadOnlyList<(string? Encoder, TokenImportanceResult Scores)> segments, TokenWeighting weighting)
    {
        float[] weights = PromptWeights.TextKeys(segments.Select(s => s.Scores).ToArray(), weighting);
        return new AesMaskWords(weights, segments.Where(s => s.Encoder is not null).Select(s => new EncoderWordScores(s.Encoder!, s.Scores)).ToArray());
    }
}
