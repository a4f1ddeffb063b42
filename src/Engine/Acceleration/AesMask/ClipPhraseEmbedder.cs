using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Loader.Tokenizers;

namespace AccelAes.Engine.Acceleration.AesMask;

/// <summary>
/// <see cref="IPhraseEmbedder"/> on a CLIP text tower (CLIP ViT-L/14 in the real pipelines: SD3's and FLUX's
/// <c>text_encoder</c>): each phrase is tokenised with CLIP's tokenizer, run through the tower, and its content
/// tokens' <c>last_hidden_state</c> rows (bos, eos, padding excluded) are averaged and L2-normalised — the
/// reference's pooling (accelaes-reference-code.md §1.2). Phrases are encoded one by one: CLIP's causal mask makes
/// that equal to the reference's padded batch.
/// </summary>
public sealed class ClipPhraseEmbedder(ClipTokenizer tokenizer, Func<TokenGrid, TextEncoderOutput> textTower, string? weightsKey = null) : IPhraseEmbedder
{
    public string? WeightsKey { get; } = weightsKey;

    public float[][] EmbedPhrases(IReadOnlyList<string> phrases)
    {
        var result = new float[phrases.Count][];
        for (int i = 0; i < phrases.Count; i++)
        {
            TokenizedPrompt t = tokenizer.Encode(phrases[i], TokenizerCall.Untruncated with { MaxLength = 77, Truncation = true });
            TextEncoderOutput output = textTower(TokenGrid.FromRows([t.InputIds]));
            float[] hidden = output.LastHiddenState.Backend.Download(output.LastHiddenState);
            int d = output.LastHiddenState.Shape.Last;
            var mean = new double[d];
            int count = 0;
            for (int p = 0; p < t.InputIds.Length; p++)
            {
                int id = t.InputIds[p];
                if (id == tokenizer.BosTokenId || id == tokenizer.EosTokenId || id == tokenizer.PadTokenId) continue;
                for (int j = 0; j < d; j++) mean[j] += hidden[p * d + j];
                count++;
            }
            double norm = 0;
            for (int j = 0; j < d; j++) { mean[j] /= Math.Max(1, count); norm += mean[j] * mean[j]; }
            norm = Math.Max(Math.Sqrt(norm), 1e-12); // F.normalize's eps
            result[i] = mean.Select(v => (float)(v / norm)).ToArray();
        }
        return result;
    }
}
