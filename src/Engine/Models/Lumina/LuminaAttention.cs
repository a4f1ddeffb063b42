using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Lumina;

/// <summary>A RoPE table on the backend: cos and sin [N, head_dim/2] for <see cref="IBackend.Rotary"/> (adjacent pairs).</summary>
public sealed record LuminaRotary(Tensor Cos, Tensor Sin);

/// <summary>
/// diffusers <c>Attention(qk_norm="layer_norm_across_heads", kv_heads, bias=False, out_bias=False)</c> driven by
/// <c>LuminaAttnProcessor2_0</c>, the math of both <c>attn1</c> (self) and <c>attn2</c> (cross) of a Lumina block
/// (architectures.md pitfall 6):
/// <list type="bullet">
/// <item>q = to_q(x), k = to_k(y), v = to_v(y); the q/k LayerNorms (affine, eps 1e-5) run over the <b>full projected
/// width</b> (H·hd for q, kv·hd for k) before the head split.</item>
/// <item>RoPE (complex multiply of adjacent pairs) on q when a query table is given and on k when a key table is
/// given: attn1 rotates both, attn2 only the query — text keys get no position.</item>
/// <item>Grouped-query attention: query head h reads kv head h / (H / kv), as diffusers' repeat of each kv head.</item>
/// <item>Softmax scale: the processor uses proportional attention √(log N / log base_sequence_length)/√hd only when
/// keys are rotated and a base is given (so attn1 only); otherwise 1/√hd.</item>
/// <item>The output stays per head [B, N, H, hd]: attn1 has no output projection (<c>to_out</c> is Identity) and
/// the block mixes both outputs before <c>attn2.to_out.0</c>, which <see cref="ToOut"/> exposes.</item>
/// </list>
/// Issue 16: a self-attention (attn1: q, k and v from the same tokens) loads its q/k/v weights joined into one GEMM
/// (<see cref="FusedQkvProjection"/>) and prepares q and k with one op (<see cref="SelfInputs"/>: the norms across
/// heads, the head split and RoPE in one kernel); its attention reads v where the GEMM wrote it (Fusion 13).
/// </summary>
public sealed class LuminaAttention
{
    private const float QkNormEps = 1e-5f; // LuminaNextDiTBlock passes eps=1e-5 to both attentions, not norm_eps

    private readonly int _heads, _kvHeads, _headDim;
    private readonly LinearLayer? _toQ, _toK, _toV; // separate projections (attn2: q and k/v read different tokens)
    private readonly LinearLayer? _qkv;             // joined [W_q; W_k; W_v] (attn1)
    private readonly int _queryDim;
    private readonly Tensor? _normQWeight, _normQBias, _normKWeight, _normKBias;

    /// <param name="queryDim">Width of the hidden states (D).</param>
    /// <param name="keyDim">Width of the states keys/values are projected from (D for attn1, cross_attention_dim for attn2).</param>
    /// <param name="hasOutputProjection">attn2 owns <c>to_out.0</c> [D, H·hd]; attn1's is Identity.</param>
    /// <param name="selfAttention">q, k and v always come from the same tokens (attn1): the three projections are one GEMM
    /// (<see cref="SelfInputs"/>); <see cref="Query"/> and <see cref="Attend"/> are then not available.</param>
    /// <param name="queryTwin">An attention whose query path this one's may equal (attn1 is given attn2): compared while the
    /// separate to_q is still loaded, before the join (<see cref="HasSameQueryPath"/>).</param>
    public LuminaAttention(WeightReader w, int queryDim, int keyDim, int heads, int kvHeads, int headDim, bool qkNorm, bool hasOutputProjection,
        bool selfAttention = false, LuminaAttention? queryTwin = null)
    {
        _heads = heads;
        _kvHeads = kvHeads;
        _headDim = headDim;
        _queryDim = queryDim;
        int inner = heads * headDim, innerKv = kvHeads * headDim;
        if (qkNorm)
        {
            _normQWeight = w.Get("norm_q.weight", inner);
            _normQBias = w.Get("norm_q.bias", inner);
            _normKWeight = w.Get("norm_k.weight", innerKv);
            _normKBias = w.Get("norm_k.bias", innerKv);
        }
        _toQ = LinearLayer.Load(w, "to_q", queryDim, inner, bias: false);
        _toK = LinearLayer.Load(w, "to_k", keyDim, innerKv, bias: false);
        _toV = LinearLayer.Load(w, "to_v", keyDim, innerKv, bias: false);
        if (queryTwin is not null)
        {
            _queryTwin = queryTwin;
            _sharesQueryWithTwin = SameQueryPath(queryTwin);
        }
        if (selfAttention)
        {
            if (keyDim != queryDim) throw new ArgumentException($"A self-attention reads one width, not {queryDim} and {keyDim}.");
            _qkv = FusedQkvProjection.Join(w.Backend, _toQ, _toK, _toV);
            (_toQ, _toK, _toV) = (null, null, null);
        }
        if (hasOutputProjection) ToOut = LinearLayer.Load(w, "to_out.0", inner, queryDim, bias: false);
    }

    /// <summary><c>to_out.0</c>: the output projection (null for attn1, whose to_out is Identity).</summary>
    public LinearLayer? ToOut { get; }

    /// <summary>to_q → norm_q (full width) → heads [B, N, H, hd] → RoPE when a table is given.</summary>
    public Tensor Query(Tensor hiddenStates, LuminaRotary? rotary)
        => Project(_toQ ?? throw JoinedProjections(), _normQWeight, _normQBias, hiddenStates, _heads, rotary);

    /// <summary>
    /// A self-attention's q [B, N, H, hd] and k [B, N, Hkv, hd] from <paramref name="hiddenStates"/> [B, N, D]: one GEMM over
    /// the joined weights, then norm_q / norm_k across heads, the head split and RoPE on q and k (<paramref name="rotary"/>) in
    /// one <see cref="IBackend.PrepareQueryKey"/>; v stays in the GEMM's output (issue 16, Fusion 13: never copied), read
    /// there by <see cref="AttendPrepared"/>. The same values as <see cref="Query"/> and the key/value path of <see cref="Attend"/>.
    /// </summary>
    public PackedValueInputs SelfInputs(Tensor hiddenStates, LuminaRotary rotary)
    {
        if (_qkv is null) throw new InvalidOperationException("SelfInputs is the joined projection of a self-attention.");
        var part = new QkvPart(_qkv.Forward(hiddenStates), _normQWeight, _normKWeight, _normQBias, _normKBias);
        return hiddenStates.Backend.PrepareQueryKey(part, _heads, _kvHeads, _headDim, QkNormEps, rotary.Cos, rotary.Sin, QkNorm.LayerNormAcrossHeads);
    }

    /// <summary>
    /// The attention over prepared inputs (<see cref="SelfInputs"/>; the query may be some of its rows), keys rotated, values read
    /// in the packed GEMM output, with the proportional scale of <paramref name="sequenceLength"/> tokens (null: the query rows).
    /// </summary>
    public Tensor AttendPrepared(PackedValueInputs inputs, Tensor query, int? baseSequenceLength, int? sequenceLength = null)
    {
        float scale = SoftmaxScale(_headDim, sequenceLength ?? query.Shape[1], keysRotated: true, baseSequenceLength);
        return query.Backend.AttentionPackedValue(query, inputs.K, inputs.Packed, scale);
    }

    /// <summary>Whether q is LayerNormed (qk_norm), i.e. <see cref="SelfInputsQueryOnLoad"/> can leave it to the attention kernel.</summary>
    public bool NormalisesQuery => _normQWeight is not null;

    /// <summary>
    /// <see cref="SelfInputs"/> without writing q (issue 16, Fusion 15): k as there, and of q only its LayerNorm statistics —
    /// the attention kernels normalise and rotate q's raw GEMM columns as they load them (<see cref="AttendQueryOnLoad"/>, and
    /// attn2's <see cref="AttendAddScaledInto(Tensor, Tensor, QueryOnLoad, LuminaCaptionKeyValues, int?)"/>).
    /// </summary>
    public QueryOnLoadInputs SelfInputsQueryOnLoad(Tensor hiddenStates, LuminaRotary rotary)
    {
        if (_qkv is null) throw new InvalidOperationException("SelfInputsQueryOnLoad is the joined projection of a self-attention.");
        var part = new QkvPart(_qkv.Forward(hiddenStates), _normQWeight, _normKWeight, _normQBias, _normKBias);
        return hiddenStates.Backend.PrepareKeyQueryStatistics(part, _heads, _kvHeads, _headDim, QkNormEps, rotary.Cos, rotary.Sin);
    }

    /// <summary><see cref="AttendPrepared"/> of every token over <see cref="SelfInputsQueryOnLoad"/>'s inputs.</summary>
    public Tensor AttendQueryOnLoad(QueryOnLoadInputs inputs, int? baseSequenceLength)
    {
        var buffer = inputs.Packed.Buffer;
        float scale = SoftmaxScale(_headDim, buffer.Shape[1], keysRotated: true, baseSequenceLength);
        return buffer.Backend.AttentionQueryOnLoad(inputs, scale);
    }

    /// <summary>
    /// <see cref="AttendPrepared"/> over keys and values given as tensors: RAS's resolved ones (every token's, from its cache,
    /// which holds v as a tensor of its own).
    /// </summary>
    public Tensor AttendResolved(Tensor query, Tensor key, Tensor value, int? baseSequenceLength, int? sequenceLength = null)
    {
        float scale = SoftmaxScale(_headDim, sequenceLength ?? query.Shape[1], keysRotated: true, baseSequenceLength);
        return query.Backend.Attention(query, key, value, scale);
    }

    private static InvalidOperationException JoinedProjections() =>
        new("This attention's q/k/v are one joined projection: use SelfInputs.");

    /// <summary>
    /// attn2's keys and values of a caption (issue 16: once per generation, <see cref="LuminaCaptionContext"/>): to_k → norm_k
    /// across heads → [B, L, Hkv, hd], and to_v → [B, L, Hkv, hd]; no RoPE (text keys carry no position).
    /// </summary>
    /// <param name="normedCaptions">norm1_context(captions) [B, L, keyDim].</param>
    public (Tensor Key, Tensor Value) CaptionKeyValues(Tensor normedCaptions)
    {
        Tensor key = Project(_toK ?? throw JoinedProjections(), _normKWeight, _normKBias, normedCaptions, _kvHeads, null);
        Tensor value = Project(_toV!, null, null, normedCaptions, _kvHeads, null);
        return (key, value);
    }

    /// <summary>The rest of attn2's processor, given a query from <see cref="Query"/> (possibly computed by another attention
    /// with identical query weights) and the caption's prepared keys and values (<see cref="CaptionKeyValues"/>): plain
    /// 1/√hd scale (the keys are not rotated), the caption mask on the keys.</summary>
    public Tensor Attend(Tensor query, LuminaCaptionKeyValues caption, int? baseSequenceLength)
        => query.Backend.Attention(query, caption.Key, caption.Value, CaptionScale(query, baseSequenceLength), caption.Mask);

    /// <summary>
    /// <paramref name="destination"/> [B, N, H, hd] += headScale[h] · <see cref="Attend"/>(…) in one
    /// <see cref="IBackend.AttentionAddScaledInto"/>: the attention's output is added where it is produced, not stored.
    /// </summary>
    public void AttendAddScaledInto(Tensor destination, Tensor headScale, Tensor query, LuminaCaptionKeyValues caption, int? baseSequenceLength)
        => query.Backend.AttentionAddScaledInto(destination, headScale, query, caption.Key, caption.Value, CaptionScale(query, baseSequenceLength),
            caption.Mask);

    /// <summary>
    /// <see cref="AttendAddScaledInto(Tensor, Tensor, Tensor, LuminaCaptionKeyValues, int?)"/> with the query another attention left
    /// unwritten (<see cref="SelfInputsQueryOnLoad"/>: the same values when <see cref="HasSameQueryPath"/>), normalised as the
    /// attention kernel loads it (issue 16, Fusion 15).
    /// </summary>
    public void AttendAddScaledInto(Tensor destination, Tensor headScale, QueryOnLoad query, LuminaCaptionKeyValues caption, int? baseSequenceLength)
        => destination.Backend.AttentionAddScaledIntoQueryOnLoad(destination, headScale, query, caption.Key, caption.Value,
            CaptionScale(destination, baseSequenceLength), caption.Mask);

    /// <summary>
    /// <see cref="Attend"/> through <see cref="IBackend.AttentionWithAffinity"/>: the same output, plus per (batch, head,
    /// query) the softmax probabilities reduced against <paramref name="keyWeights"/> [B, L] (AesMask's capture on
    /// attn2: image queries × the caption's weighted text keys, padding masked by the caption mask).
    /// </summary>
    public (Tensor Output, Tensor Affinity) AttendWithAffinity(Tensor query, LuminaCaptionKeyValues caption, int? baseSequenceLength,
        Tensor keyWeights)
        => query.Backend.AttentionWithAffinity(query, caption.Key, caption.Value, CaptionScale(query, baseSequenceLength), keyWeights,
            caption.Mask);

    private float CaptionScale(Tensor query, int? baseSequenceLength)
        => SoftmaxScale(_headDim, query.Shape[1], keysRotated: false, baseSequenceLength);

    /// <summary>
    /// True when <paramref name="other"/>'s query path (to_q and norm_q) holds exactly the same values, so its
    /// <see cref="Query"/> equals this one's. Lumina-Next-SFT's converter copies the original <c>wq</c> / <c>q_norm</c>
    /// into both attn1 and attn2 (architectures.md §5.1, §7.3), which makes one of the two query GEMMs redundant.
    /// </summary>
    public bool HasSameQueryPath(LuminaAttention other)
    {
        if (ReferenceEquals(other, _queryTwin)) return _sharesQueryWithTwin;
        if (ReferenceEquals(this, other._queryTwin)) return other._sharesQueryWithTwin;
        return SameQueryPath(other);
    }

    private readonly LuminaAttention? _queryTwin;
    private readonly bool _sharesQueryWithTwin;

    private bool SameQueryPath(LuminaAttention other)
    {
        if (_toQ is null || other._toQ is null)
            throw new InvalidOperationException("A joined q/k/v projection is compared with its query twin when it loads.");
        return _heads == other._heads && _headDim == other._headDim
               && SameValues(_toQ.Weight, other._toQ.Weight)
               && SameValues(_normQWeight, other._normQWeight) && SameValues(_normQBias, other._normQBias);
    }

    /// <summary>
    /// diffusers' rule: <c>sqrt(log(N, base)) · dim_head^-0.5</c> when keys carry RoPE and a base is given,
    /// else SDPA's default 1/√hd. N is the query length (image tokens).
    /// </summary>
    public static float SoftmaxScale(int headDim, int sequenceLength, bool keysRotated, int? baseSequenceLength)
    {
        double plain = Math.Pow(headDim, -0.5);
        if (!keysRotated || baseSequenceLength is not int b) return (float)plain;
        return (float)(Math.Sqrt(Math.Log(sequenceLength) / Math.Log(b)) * plain);
    }

    private Tensor Project(LinearLayer proj, Tensor? normWeight, Tensor? normBias, Tensor x, int heads, LuminaRotary? rotary)
    {
        IBackend be = x.Backend;
        Tensor y = proj.Forward(x);
        if (normWeight is not null) y = be.LayerNorm(y, QkNormEps, normWeight, normBias);
        y = y.Reshape(x.Shape[0], x.Shape[1], heads, _headDim);
        return rotary is null ? y : be.Rotary(y, rotary.Cos, rotary.Sin, RotaryPairing.Adjacent);
    }

    private static bool SameValues(Tensor? a, Tensor? b)
    {
        if (a is null || b is null) return a is null && b is null;
        if (a.Shape != b.Shape) return false;
        return a.Backend.Download(a).AsSpan().SequenceEqual(b.Backend.Download(b));
    }
}
