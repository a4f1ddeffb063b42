using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Models.TextEncoders;

/// <summary>
/// The masking arguments of one <see cref="IBackend.Attention"/> call, computed once per forward and shared by
/// every layer.
///
/// transformers' eager attention adds <c>finfo(float32).min</c> to masked scores instead of −∞. The two agree
/// whenever a query row keeps at least one key (exp underflows to exactly 0 either way), so the usual case uses
/// the op's key mask and causal flag. They differ only for a row that masks every key (left padding before a
/// causal mask, or an all-padding sequence): there every score becomes the same huge negative number and the
/// softmax is uniform over those keys (over the keys masked once, where CLIP adds two masks), where the op
/// returns zeros. Those rows are padding whose outputs
/// nobody reads, but they are part of <c>last_hidden_state</c>, so for them the model builds transformers'
/// additive mask itself (<see cref="FromAdditive"/>) and the output matches transformers everywhere.
/// </summary>
public sealed record AttentionMaskArgs(Tensor? KeyMask, bool Causal, Tensor? Bias)
{
    /// <summary>
    /// The score added at a masked position of an additive mask. transformers uses <c>finfo(float32).min</c>;
    /// any value this large has the same effect (an O(1) score added to it rounds back to it, so a fully masked
    /// row is uniform, and a position masked twice is still infinitely less likely than one masked once), while
    /// −1e30 stays finite when a backend stores the bias in bf16, where finfo(float32).min rounds to −∞.
    /// </summary>
    public const float MaskedScore = -1e30f;

    /// <summary>
    /// True when some query row of <paramref name="mask"/> keeps no key: an all-padding row, or with
    /// <paramref name="causal"/>, a row whose first kept key lies after the query.
    /// </summary>
    public static bool HasFullyMaskedRow(TokenGrid? mask, bool causal)
    {
        if (mask is null) return false;
        for (int b = 0; b < mask.Batch; b++)
        {
            int firstKept = mask.Row(b).IndexOf(1);
            if (firstKept < 0 || (causal && firstKept > 0)) return true;
        }
        return false;
    }

    /// <summary>The key mask [B, L] for <paramref name="mask"/>, or null when it keeps every key.</summary>
    public static Tensor? KeyMaskOf(IBackend backend, TokenGrid? mask)
        => mask is null || mask.AllOnes() ? null : mask.UploadAsFloat(backend);

    /// <summary>
    /// Arguments carrying transformers' additive mask <paramref name="additive"/> [B, Sq, Sk] (values 0,
    /// <see cref="MaskedScore"/>, or twice that where transformers adds two masks), repeated over <paramref name="heads"/>,
    /// plus an optional per-head score bias [H, Sq, Sk] (T5's relative positions).
    /// </summary>
    public static AttentionMaskArgs FromAdditive(IBackend backend, float[] additive, int batch, int queries, int keys, int heads, Tensor? headBias = null)
    {
        int plane = queries * keys;
        if (additive.Length != batch * plane)
            throw new ArgumentException($"Additive mask of {additive.Length} values does not fill [{batch}, {queries}, {keys}].");
        var perHead = new float[batch * heads * plane];
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < heads; h++)
                Array.Copy(additive, b * plane, perHead, (b * heads + h) * plane, plane);
        Tensor bias = backend.Upload(perHead, new Shape(batch, heads, queries, keys));
        // [B, H, Sq, Sk] + [H, Sq, Sk] broadcasts over the batch; T5 adds its mask to the position bias the same way.
        if (headBias is not null) bias = backend.Add(bias, headBias);
        return new AttentionMaskArgs(null, false, bias);
    }
}
