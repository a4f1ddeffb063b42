using System.Text.Json;
using AccelAes.Engine.Acceleration.AesMask;
using AccelAes.Engine.Pipelines.Generation;

namespace AccelAes.Cli;

/// <summary>
/// The per-word anchor scores of a run as JSON: the <c>"encoders"</c> list of <c>--save-mask</c>'s .json, one entry per
/// text encoder AesMask scored (<see cref="GenerationResult.WordScores"/>), each word with its stop-word flag, its best
/// cosine similarity to the aesthetic anchors (null for stop words, which are not scored) and the weight its tokens got.
/// </summary>
internal static class WordScoresJson
{
    public static void Write(Utf8JsonWriter json, GenerationResult result)
    {
        json.WriteStartArray("encoders");
        foreach (var encoder in result.WordScores ?? [])
        {
            TokenImportanceResult s = encoder.Scores;
            json.WriteStartObject();
            json.WriteString("encoder", encoder.Encoder);
            json.WriteString("branch", BranchName(s.Branch));
            if (s.BestSimilarity is float best) json.WriteNumber("best_similarity", best);
            else json.WriteNull("best_similarity");
            json.WriteStartArray("words");
            int content = 0; // ContentSimilarities holds one value per non-stop word, in order
            for (int w = 0; w < s.Words.Count; w++)
            {
                PromptWord word = s.Words[w];
                bool stop = w < s.WordIsStopword.Length && s.WordIsStopword[w];
                json.WriteStartObject();
                json.WriteString("word", word.Text);
                json.WriteBoolean("stopword", stop);
                if (!stop && content < s.ContentSimilarities.Length) json.WriteNumber("similarity", s.ContentSimilarities[content++]);
                else json.WriteNull("similarity");
                json.WriteNumber("importance", word.Positions.Where(p => p < s.Importance.Length).Select(p => s.Importance[p]).DefaultIfEmpty(0f).Max());
                json.WriteStartArray("positions");
                foreach (int p in word.Positions) json.WriteNumberValue(p);
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        json.WriteEndArray();
    }

    private static string BranchName(ImportanceBranch branch) => branch switch
    {
        ImportanceBranch.Normalised => "normalised",
        ImportanceBranch.BelowGate => "below_gate",
        ImportanceBranch.NoContentWords => "no_content_words",
        ImportanceBranch.TopK => "top_k",
        var other => other.ToString(),
    };
}
