using AccelAes.Engine.Acceleration.Ras;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Acceleration.Runtime;

/// <summary>
/// What the current transformer forward must do for AccelAes, read by the blocks: run dense (Full), capture
/// attention for AesMask (FullCaptureMask), run dense and fill the per-layer caches (FullFillCache), or run
/// SkipSparse (Sparse: focus-token queries over all keys/values, a focus-only FFN unless
/// <see cref="SparseFeedForward"/> is off, background rows from the caches of the last fill). Also owns those caches.
/// One instance per sampling run; models take it as an optional argument and behave exactly as without it when it
/// is null or the kind is Full.
/// </summary>
public sealed class SparseForward
{
    /// <param name="sparseFeedForward">The run's <c>sparse_ffn</c> (<see cref="AccelerationOptions.SparseFeedForward"/>):
    /// true runs the FFN on focus rows too (attention + FFN sparsity); false keeps the FFN dense on sparse steps
    /// (attention-only sparsity, the paper's Table 7 ablation).</param>
    public SparseForward(bool sparseFeedForward = true) => SparseFeedForward = sparseFeedForward;

    private readonly Dictionary<(int Pass, int Layer, string Name), Tensor> _caches = new();
    private readonly Dictionary<int, Tensor> _focusRows = new();
    private readonly Dictionary<string, Tensor> _derivedIndices = new();
    private int[]? _focus;

    /// <summary>
    /// TeaCache as the run's temporal rule (<c>temporal=teacache</c>), or null: when set, the model's forward hands its
    /// block stack to it, which runs the blocks (with this state) or reuses their cached residual.
    /// </summary>
    public TemporalTeaCache? TeaCache { get; set; }

    /// <summary>What this forward does.</summary>
    public StepKind Kind { get; private set; } = StepKind.Full;

    /// <summary>Forward index within the step (two-pass CFG runs two); caches are kept per pass.</summary>
    public int Pass { get; private set; }

    /// <summary>Set during the capture forward.</summary>
    public AffinityCapture? Capture { get; private set; }

    /// <summary>Image tokens of the model's grid (set with the focus set).</summary>
    public int ImageTokens { get; private set; }

    /// <summary>Focus token indices (row-major over the token grid), or null before the mask exists / on fallback.</summary>
    public IReadOnlyList<int>? FocusTokens => _focus;

    public int FocusCount => _focus?.Length ?? 0;

    /// <summary>
    /// Changes whenever a cache tensor or the focus set is replaced: a captured sparse step reads them at fixed
    /// addresses, so its graph key includes this (<see cref="Sampling.StepGraph"/>).
    /// </summary>
    public int Generation { get; private set; }

    /// <summary>True when blocks must write their caches in this forward.</summary>
    public bool WritesCaches => Kind == StepKind.FullFillCache;

    /// <summary>True when blocks run their sparse path in this forward.</summary>
    public bool IsSparse => Kind == StepKind.Sparse;

    /// <summary>
    /// Whether SkipSparse covers the FFN (<c>sparse_ffn</c>). When false, a sparse step computes the FFN of every
    /// image row and fill steps keep no FFN cache; attention stays focus-query sparse either way.
    /// </summary>
    public bool SparseFeedForward { get; }

    /// <summary>
    /// RAS's key/value caches (null without RAS): when set, self-attention resolves its image keys and values through
    /// them (<see cref="RasKeyValueCache.Resolve"/>), and the image rows of the forward are the focus tokens.
    /// </summary>
    public RasKeyValueCache? KeyValues { get; set; }

    /// <summary>Bytes held by the caches.</summary>
    public long CacheBytes => _caches.Values.Sum(t => (long)t.ElementCount * ElementSize(t.DType));

    /// <summary>Sets the kind of the step's forwards (the sampler calls this once per computed step).</summary>
    public void BeginStep(StepKind kind, AffinityCapture? capture)
    {
        if (kind == StepKind.Skip) throw new ArgumentException("A skipped step runs no forward.");
        if (kind == StepKind.Sparse && _focus is null)
            throw new InvalidOperationException("A sparse step needs a focus set (the mask step must come first).");
        Kind = kind;
        Capture = capture;
        Pass = 0;
    }

    /// <summary>Called by the denoiser before each forward of a step.</summary>
    /// <param name="pass">Forward index within the step.</param>
    /// <param name="condBatchIndex">Batch row of the conditional branch in this forward, or null when it has none.</param>
    public void BeginForward(int pass, int? condBatchIndex)
    {
        Pass = pass;
        if (Capture is not null) Capture.CondBatchIndex = condBatchIndex;
    }

    /// <summary>Sets the focus set; null (mask fallback) disables the sparse path.</summary>
    public void SetFocus(int[]? focusTokens, int imageTokens)
    {
        _focus = focusTokens;
        ImageTokens = imageTokens;
        ClearIndexCaches();
        Generation++;
    }

    /// <summary>Row indices b·N + f of the focus tokens of every batch item, for a [batch·N, D] view (cached per batch size).</summary>
    public Tensor FocusRows(IBackend backend, int batch)
    {
        if (_focusRows.TryGetValue(batch, out var rows)) return rows;
        int[] focus = _focus ?? throw new InvalidOperationException("No focus set.");
        var idx = new int[batch * focus.Length];
        for (int b = 0; b < batch; b++)
            for (int i = 0; i < focus.Length; i++) idx[b * focus.Length + i] = b * ImageTokens + focus[i];
        rows = backend.UploadIndices(idx, new Shape(idx.Length));
        _focusRows[batch] = rows;
        return rows;
    }

    /// <summary>
    /// An index list a model derives from the focus set (FLUX's query positions and joined-sequence rows), uploaded on
    /// first use and kept until the focus set changes. Uploading once matters beyond the copy: a captured sparse
    /// forward may not upload, so a model that rebuilt its indices every forward could never be a graph.
    /// </summary>
    /// <param name="key">Names the list and every size it depends on (the focus set is implied).</param>
    /// <param name="build">Builds the list from <see cref="FocusTokens"/>; called once per key and focus set.</param>
    public Tensor DerivedIndices(IBackend backend, string key, Func<int[]> build)
    {
        if (_derivedIndices.TryGetValue(key, out var t)) return t;
        int[] values = build();
        t = backend.UploadIndices(values, new Shape(values.Length));
        _derivedIndices[key] = t;
        return t;
    }

    /// <summary>Stores a layer's cache (the tensor becomes the cache: the caller must not reuse it).</summary>
    public void Store(int layer, string name, Tensor value)
    {
        // A refresh fill replaces the layer's cache; the old storage goes back to the backend now, not at the end.
        if (_caches.TryGetValue((Pass, layer, name), out var old) && !ReferenceEquals(old, value)) old.Dispose();
        if (!ReferenceEquals(old, value)) Generation++;
        _caches[(Pass, layer, name)] = value;
    }

    /// <summary>The cache a fill step stored for this layer and pass.</summary>
    public Tensor Cached(int layer, string name)
        => _caches.TryGetValue((Pass, layer, name), out var t)
            ? t
            : throw new InvalidOperationException($"No '{name}' cache for layer {layer} (pass {Pass}): a cache-fill step must precede sparse steps.");

    /// <summary>Frees the caches (after the run).</summary>
    public void Release()
    {
        foreach (var t in _caches.Values) t.Dispose();
        _caches.Clear();
        ClearIndexCaches();
    }

    private void ClearIndexCaches()
    {
        foreach (var t in _focusRows.Values) t.Dispose();
        foreach (var t in _derivedIndices.Values) t.Dispose();
        _focusRows.Clear();
        _derivedIndices.Clear();
    }

    private static int ElementSize(DType t) => t switch { DType.F32 or DType.I32 => 4, _ => 2 };
}
