using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends;

/// <summary>
/// An <see cref="IBackend"/> that forwards every op to <see cref="Inner"/> through two hooks, <see cref="Call{T}"/> and
/// <see cref="Call(string, Action)"/>, which receive the op's name. Decorators (per-op profiling in `accelaes bench`,
/// fault injection in the self-test tests) override the hooks instead of re-implementing forty members.
/// </summary>
/// <remarks>
/// Models reach their backend through <see cref="Tensor.Backend"/> (<c>x.Backend.Linear(x, …)</c>), so the tensors this
/// backend hands out are <see cref="DelegatedTensor"/>s whose Backend is the decorator; each wraps the inner backend's
/// tensor (no copy) and is unwrapped on the way in. Inside the hooks, <c>run</c> works on inner tensors.
/// </remarks>
public abstract class DelegatingBackend(IBackend inner, bool ownsInner = false) : IBackend
{
    public IBackend Inner { get; } = inner;

    public virtual string Name => Inner.Name;

    public DType ActivationType => Inner.ActivationType;

    /// <summary>Runs one op that returns a value; <paramref name="op"/> is the IBackend member's name.</summary>
    protected virtual T Call<T>(string op, Func<T> run) => run();

    /// <summary>Runs one op that returns nothing (the in-place ops).</summary>
    protected virtual void Call(string op, Action run) => run();

    /// <summary>
    /// Called just before the matmul-like ops (Linear, Attention, AttentionWithAffinity, Conv2d) with their operand
    /// shapes (Linear: x, weight; attention: q, k, v; Conv2d: x, weight), so a decorator can count FLOPs.
    /// </summary>
    protected virtual void BeforeMatmul(string op, Shape a, Shape b, Shape? c) { }

    public virtual void Dispose()
    {
        if (ownsInner) Inner.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>The inner backend's tensor behind <paramref name="t"/> (inner tensors pass through unchanged).</summary>
    public static Tensor Unwrap(Tensor t) => t is DelegatedTensor d ? d.Inner : t;

    private static Tensor? U(Tensor? t)
    {
        var inner = t is null ? null : Unwrap(t);
        if (inner is not null)
            t_inputs?.Add(inner);
        return inner;
    }

    [ThreadStatic] private static List<Tensor>? t_inputs;

    /// <summary>
    /// Runs <paramref name="run"/> (the <c>run</c> of a hook) and collects the inner tensors the op was given, in argument
    /// order: for decorators whose behaviour depends on the inputs (Bf16StorageBackend follows the device's dtypes).
    /// </summary>
    protected static T RunRecordingInputs<T>(Func<T> run, out IReadOnlyList<Tensor> inputs)
    {
        var outer = t_inputs;
        var recorded = t_inputs = [];
        try
        {
            var result = run();
            inputs = recorded;
            return result;
        }
        finally
        {
            t_inputs = outer;
        }
    }

    private DelegatedTensor W(Tensor t) => new(this, t);

    // Every member below only unwraps, routes through the hooks and wraps; no decorator logic lives here.
    // Spans cannot be captured by lambdas, so the memory ops copy them to arrays first (only on this path).

    public Tensor Upload(ReadOnlySpan<float> values, Shape shape)
    {
        float[] copy = values.ToArray();
        return W(Call(nameof(Upload), () => Inner.Upload(copy, shape)));
    }

    public Tensor UploadWeight(ReadOnlySpan<byte> bytes, DType source, Shape shape)
    {
        byte[] copy = bytes.ToArray();
        return W(Call(nameof(UploadWeight), () => Inner.UploadWeight(copy, source, shape)));
    }

    public Tensor UploadFp8Weight(ReadOnlySpan<byte> codes, ReadOnlySpan<float> scales, Shape shape)
    {
        byte[] codeCopy = codes.ToArray();
        float[] scaleCopy = scales.ToArray();
        return W(Call(nameof(UploadFp8Weight), () => Inner.UploadFp8Weight(codeCopy, scaleCopy, shape)));
    }

    public Tensor Zeros(Shape shape) => W(Call(nameof(Zeros), () => Inner.Zeros(shape)));

    public Tensor Allocate(Shape shape) => W(Call(nameof(Allocate), () => Inner.Allocate(shape)));

    public Tensor UploadIndices(ReadOnlySpan<int> values, Shape shape)
    {
        int[] copy = values.ToArray();
        return W(Call(nameof(UploadIndices), () => Inner.UploadIndices(copy, shape)));
    }

    public float[] Download(Tensor tensor) => Call(nameof(Download), () => Inner.Download(U(tensor)!));

    public Tensor Linear(Tensor x, Tensor weight, Tensor? bias, Activation activation = Activation.None)
    {
        BeforeMatmul(nameof(Linear), x.Shape, weight.Shape, null);
        return W(Call(nameof(Linear), () => Inner.Linear(U(x)!, U(weight)!, U(bias), activation)));
    }

    /// <summary>Counted as a Linear by <see cref="BeforeMatmul"/> (same FLOPs); the destination is the written argument.</summary>
    public void LinearInto(Tensor destination, int columnOffset, Tensor x, Tensor weight, Tensor? bias, Activation activation = Activation.None)
    {
        BeforeMatmul(nameof(Linear), x.Shape, weight.Shape, null);
        Call(nameof(LinearInto), () => Inner.LinearInto(U(destination)!, columnOffset, U(x)!, U(weight)!, U(bias), activation));
    }

    /// <summary>Counted as an Attention by <see cref="BeforeMatmul"/>; the destination is the written argument.</summary>
    public void AttentionInto(Tensor destination, int columnOffset, Tensor q, Tensor k, Tensor v, float scale, Tensor? keyMask = null)
    {
        BeforeMatmul(nameof(Attention), q.Shape, k.Shape, v.Shape);
        Call(nameof(AttentionInto), () => Inner.AttentionInto(U(destination)!, columnOffset, U(q)!, U(k)!, U(v)!, scale, U(keyMask)));
    }

    public Tensor Attention(Tensor q, Tensor k, Tensor v, float scale, Tensor? keyMask = null, bool causal = false, Tensor? bias = null)
    {
        BeforeMatmul(nameof(Attention), q.Shape, k.Shape, v.Shape);
        return W(Call(nameof(Attention), () => Inner.Attention(U(q)!, U(k)!, U(v)!, scale, U(keyMask), causal, U(bias))));
    }

    public (Tensor Output, Tensor Affinity) AttentionWithAffinity(Tensor q, Tensor k, Tensor v, float scale, Tensor keyWeights, Tensor? keyMask = null)
    {
        BeforeMatmul(nameof(AttentionWithAffinity), q.Shape, k.Shape, v.Shape);
        var (output, affinity) = Call(nameof(AttentionWithAffinity), () => Inner.AttentionWithAffinity(U(q)!, U(k)!, U(v)!, scale, U(keyWeights)!, U(keyMask)));
        return (W(output), W(affinity));
    }

    /// <summary>Counted as an Attention by <see cref="BeforeMatmul"/>; the destination is the written argument.</summary>
    public void AttentionAddScaledInto(Tensor destination, Tensor headScale, Tensor q, Tensor k, Tensor v, float scale, Tensor? keyMask = null)
    {
        BeforeMatmul(nameof(Attention), q.Shape, k.Shape, v.Shape);
        Call(nameof(AttentionAddScaledInto), () => Inner.AttentionAddScaledInto(U(destination)!, U(headScale)!, U(q)!, U(k)!, U(v)!, scale, U(keyMask)));
    }

    public Tensor LayerNorm(Tensor x, float eps, Tensor? weight = null, Tensor? bias = null) =>
        W(Call(nameof(LayerNorm), () => Inner.LayerNorm(U(x)!, eps, U(weight), U(bias))));

    public Tensor RmsNorm(Tensor x, float eps, Tensor? weight = null) => W(Call(nameof(RmsNorm), () => Inner.RmsNorm(U(x)!, eps, U(weight))));

    public Tensor GroupNorm(Tensor x, int groups, float eps, Tensor weight, Tensor bias) =>
        W(Call(nameof(GroupNorm), () => Inner.GroupNorm(U(x)!, groups, eps, U(weight)!, U(bias)!)));

    public Tensor Modulate(Tensor x, Tensor? scale, Tensor? shift) => W(Call(nameof(Modulate), () => Inner.Modulate(U(x)!, U(scale), U(shift))));

    public Tensor LayerNormModulate(Tensor x, float eps, Tensor? scale, Tensor? shift) =>
        W(Call(nameof(LayerNormModulate), () => Inner.LayerNormModulate(U(x)!, eps, U(scale), U(shift))));

    public Tensor RmsNormModulate(Tensor x, float eps, Tensor? weight, Tensor? scale, Tensor? shift) =>
        W(Call(nameof(RmsNormModulate), () => Inner.RmsNormModulate(U(x)!, eps, U(weight), U(scale), U(shift))));

    public void AddGatedInPlace(Tensor residual, Tensor y, Tensor? gate) =>
        Call(nameof(AddGatedInPlace), () => Inner.AddGatedInPlace(U(residual)!, U(y)!, U(gate)));

    // ---- Residual path (issue 16) ----
    /// <summary>Counted as a Linear by <see cref="BeforeMatmul"/> (same FLOPs); the residual is the written argument.</summary>
    public void LinearAddGatedInPlace(Tensor residual, Tensor x, Tensor weight, Tensor? bias, Tensor? gate)
    {
        BeforeMatmul(nameof(Linear), x.Shape, weight.Shape, null);
        Call(nameof(LinearAddGatedInPlace), () => Inner.LinearAddGatedInPlace(U(residual)!, U(x)!, U(weight)!, U(bias), U(gate)));
    }

    public void RmsNormAddTanhGatedInPlace(Tensor residual, Tensor y, float eps, Tensor? weight, Tensor gate) =>
        Call(nameof(RmsNormAddTanhGatedInPlace), () => Inner.RmsNormAddTanhGatedInPlace(U(residual)!, U(y)!, eps, U(weight), U(gate)!));

    /// <summary>Returns the modulated norm and updates its first argument, the residual, in place.</summary>
    public Tensor RmsNormAddTanhGatedThenModulate(Tensor residual, Tensor y, float eps, Tensor? weight, Tensor gate,
        float modulateEps, Tensor? modulateWeight, Tensor? scale, Tensor? shift) =>
        W(Call(nameof(RmsNormAddTanhGatedThenModulate), () => Inner.RmsNormAddTanhGatedThenModulate(U(residual)!, U(y)!, eps, U(weight), U(gate)!,
            modulateEps, U(modulateWeight), U(scale), U(shift))));

    public Tensor Activate(Tensor x, Activation activation) => W(Call(nameof(Activate), () => Inner.Activate(U(x)!, activation)));

    public Tensor Add(Tensor a, Tensor b) => W(Call(nameof(Add), () => Inner.Add(U(a)!, U(b)!)));

    public Tensor Multiply(Tensor a, Tensor b) => W(Call(nameof(Multiply), () => Inner.Multiply(U(a)!, U(b)!)));

    public Tensor Scale(Tensor x, float s) => W(Call(nameof(Scale), () => Inner.Scale(U(x)!, s)));

    public Tensor Relu(Tensor x) => W(Call(nameof(Relu), () => Inner.Relu(U(x)!)));

    public Tensor Softmax(Tensor x) => W(Call(nameof(Softmax), () => Inner.Softmax(U(x)!)));

    public Tensor Rotary(Tensor x, Tensor cos, Tensor sin, RotaryPairing pairing = RotaryPairing.Adjacent) =>
        W(Call(nameof(Rotary), () => Inner.Rotary(U(x)!, U(cos)!, U(sin)!, pairing)));

    public Tensor TimestepEmbedding(Tensor t, int dim, bool flipSinToCos, float downscaleFreqShift, float scale = 1f, float maxPeriod = 10000f) =>
        W(Call(nameof(TimestepEmbedding), () => Inner.TimestepEmbedding(U(t)!, dim, flipSinToCos, downscaleFreqShift, scale, maxPeriod)));

    public Tensor GatherRows(Tensor table, Tensor indices) => W(Call(nameof(GatherRows), () => Inner.GatherRows(U(table)!, U(indices)!)));

    public void ScatterRowsInPlace(Tensor destination, Tensor indices, Tensor source) =>
        Call(nameof(ScatterRowsInPlace), () => Inner.ScatterRowsInPlace(U(destination)!, U(indices)!, U(source)!));

    public Tensor Copy(Tensor x) => W(Call(nameof(Copy), () => Inner.Copy(U(x)!)));

    /// <summary>The parts are recorded as the op's inputs (an fp32 concatenation stays fp32 under Bf16StorageBackend, as on the device).</summary>
    public Tensor Concat(int axis, params Tensor[] parts) =>
        W(Call(nameof(Concat), () => Inner.Concat(axis, Array.ConvertAll(parts, p => U(p)!))));

    public Tensor Slice(Tensor x, int axis, int start, int length) => W(Call(nameof(Slice), () => Inner.Slice(U(x)!, axis, start, length)));

    public Tensor TransposeLast2(Tensor x) => W(Call(nameof(TransposeLast2), () => Inner.TransposeLast2(U(x)!)));

    public Tensor Patchify(Tensor x, int patch, PatchLayout layout) => W(Call(nameof(Patchify), () => Inner.Patchify(U(x)!, patch, layout)));

    public Tensor Unpatchify(Tensor tokens, int channels, int height, int width, int patch, PatchLayout layout) =>
        W(Call(nameof(Unpatchify), () => Inner.Unpatchify(U(tokens)!, channels, height, width, patch, layout)));

    public Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, int stride, int padding)
    {
        BeforeMatmul(nameof(Conv2d), x.Shape, weight.Shape, null);
        return W(Call(nameof(Conv2d), () => Inner.Conv2d(U(x)!, U(weight)!, U(bias), stride, padding)));
    }

    public Tensor UpsampleNearest2x(Tensor x) => W(Call(nameof(UpsampleNearest2x), () => Inner.UpsampleNearest2x(U(x)!)));

    public Tensor GuidanceCombine(Tensor uncond, Tensor cond, float scale) =>
        W(Call(nameof(GuidanceCombine), () => Inner.GuidanceCombine(U(uncond)!, U(cond)!, scale)));

    public Tensor GuidanceCombine(Tensor uncond, Tensor cond, Tensor scale) =>
        W(Call(nameof(GuidanceCombine), () => Inner.GuidanceCombine(U(uncond)!, U(cond)!, U(scale)!)));

    public Tensor Extrapolate(Tensor latest, Tensor previous, float coefficient) =>
        W(Call(nameof(Extrapolate), () => Inner.Extrapolate(U(latest)!, U(previous)!, coefficient)));

    public void EulerStepInPlace(Tensor latents, Tensor velocity, float dt) =>
        Call(nameof(EulerStepInPlace), () => Inner.EulerStepInPlace(U(latents)!, U(velocity)!, dt));

    public Tensor AbsDifferenceSums(Tensor a, Tensor b) =>
        W(Call(nameof(AbsDifferenceSums), () => Inner.AbsDifferenceSums(U(a)!, U(b)!)));

    public int CountNonFinite(Tensor x) => Call(nameof(CountNonFinite), () => Inner.CountNonFinite(U(x)!));

    // ---- FFN and elementwise fusions (issue 16, FFN path) ----

    public Tensor SiluMul(Tensor gateAndUp) => W(Call(nameof(SiluMul), () => Inner.SiluMul(U(gateAndUp)!)));

    public Tensor AddScaled(Tensor a, Tensor b, Tensor scale) => W(Call(nameof(AddScaled), () => Inner.AddScaled(U(a)!, U(b)!, U(scale)!)));

    /// <summary>Counted as a Linear of the joined [2F, K] weight by <see cref="BeforeMatmul"/> (same FLOPs).</summary>
    public Tensor LinearSwiGlu(Tensor x, Tensor gateUpWeight)
    {
        BeforeMatmul(nameof(Linear), x.Shape, gateUpWeight.Shape, null);
        return W(Call(nameof(LinearSwiGlu), () => Inner.LinearSwiGlu(U(x)!, U(gateUpWeight)!)));
    }

    // ---- Fused attention inputs (issue 16, QKV path) ----

    /// <summary>Counted as a Linear over the rows by <see cref="BeforeMatmul"/>.</summary>
    public Tensor LinearOfRows(Tensor x, int start, int count, Tensor weight, Tensor? bias)
    {
        BeforeMatmul(nameof(Linear), new Shape(x.Shape[0], count, x.Shape.Last), weight.Shape, null);
        return W(Call(nameof(LinearOfRows), () => Inner.LinearOfRows(U(x)!, start, count, U(weight)!, U(bias))));
    }

    // ---- Gated projections over row ranges (issue 16, Fusion 6) ----

    /// <summary>Counted as a Linear over the rows by <see cref="BeforeMatmul"/>; the residual is the written argument.</summary>
    public void LinearOfRowsAddGatedInPlace(Tensor residual, Tensor x, int start, int count, Tensor weight, Tensor? bias, Tensor? gate)
    {
        BeforeMatmul(nameof(Linear), new Shape(x.Shape[0], count, x.Shape.Last), weight.Shape, null);
        Call(nameof(LinearOfRowsAddGatedInPlace),
            () => Inner.LinearOfRowsAddGatedInPlace(U(residual)!, U(x)!, start, count, U(weight)!, U(bias), U(gate)));
    }

    public AttentionInputs PrepareAttentionInputs(IReadOnlyList<QkvPart> parts, int heads, int kvHeads, int headDim, float eps, Tensor? cos = null, Tensor? sin = null,
        QkNorm norm = QkNorm.RmsPerHead)
    {
        var r = Call(nameof(PrepareAttentionInputs), () => Inner.PrepareAttentionInputs(
            parts.Select(p => new QkvPart(U(p.Qkv)!, U(p.NormQ), U(p.NormK), U(p.NormQBias), U(p.NormKBias))).ToArray(), heads, kvHeads, headDim, eps,
            U(cos), U(sin), norm));
        return new AttentionInputs(W(r.Q), W(r.K), W(r.V));
    }

    // ---- Gates prepared once per block (issue 16, FLUX launches) ----

    /// <summary>The inner backend's prepared gates, each wrapped with this backend's tensors (its state: the inner prepared gate).</summary>
    public IReadOnlyList<PreparedGate> PrepareGates(IReadOnlyList<(Tensor Gate, Tensor? Bias)> gates)
    {
        PreparedGate.CheckGates(gates);
        var inner = Call(nameof(PrepareGates), () => Inner.PrepareGates(gates.Select(g => (U(g.Gate)!, U(g.Bias))).ToArray()));
        return gates.Select((g, i) => new PreparedGate(this, g.Gate, g.Bias, inner[i])).ToArray();
    }

    /// <summary>Counted as a Linear by <see cref="BeforeMatmul"/>; the residual is the written argument.</summary>
    public void LinearAddPreparedGateInPlace(Tensor residual, Tensor x, Tensor weight, PreparedGate gate)
    {
        PreparedGate.CheckUse(gate, this, nameof(LinearAddGatedInPlace));
        BeforeMatmul(nameof(Linear), x.Shape, weight.Shape, null);
        Call(nameof(LinearAddGatedInPlace), () => Inner.LinearAddPreparedGateInPlace(U(residual)!, U(x)!, U(weight)!, (PreparedGate)gate.State!));
    }

    /// <summary>Counted as a Linear over the rows by <see cref="BeforeMatmul"/>; the residual is the written argument.</summary>
    public void LinearOfRowsAddPreparedGateInPlace(Tensor residual, Tensor x, int start, int count, Tensor weight, PreparedGate gate)
    {
        PreparedGate.CheckUse(gate, this, nameof(LinearOfRowsAddGatedInPlace));
        BeforeMatmul(nameof(Linear), new Shape(x.Shape[0], count, x.Shape.Last), weight.Shape, null);
        Call(nameof(LinearOfRowsAddGatedInPlace),
            () => Inner.LinearOfRowsAddPreparedGateInPlace(U(residual)!, U(x)!, start, count, U(weight)!, (PreparedGate)gate.State!));
    }

    // ---- Attention over a packed QKV buffer (issue 16, Fusion 7) ----

    /// <summary>Counted as a Linear by <see cref="BeforeMatmul"/> (same FLOPs); the destination is the written argument.</summary>
    public void LinearIntoRows(Tensor destination, int rowOffset, Tensor x, Tensor weight, Tensor? bias)
    {
        BeforeMatmul(nameof(Linear), x.Shape, weight.Shape, null);
        Call(nameof(LinearIntoRows), () => Inner.LinearIntoRows(U(destination)!, rowOffset, U(x)!, U(weight)!, U(bias)));
    }

    /// <summary>Counted as an Attention over the unpacked q, k, v shapes by <see cref="BeforeMatmul"/>.</summary>
    public Tensor AttentionPacked(PackedQkv qkv, float scale)
    {
        int batch = qkv.Buffer.Shape.Rank == 3 ? qkv.Buffer.Shape[0] : 0, sequence = qkv.Buffer.Shape.Rank == 3 ? qkv.Buffer.Shape[1] : 0;
        BeforeMatmul(nameof(Attention), new Shape(batch, sequence, qkv.Heads, qkv.HeadDim), new Shape(batch, sequence, qkv.KvHeads, qkv.HeadDim),
            new Shape(batch, sequence, qkv.KvHeads, qkv.HeadDim));
        return W(Call(nameof(AttentionPacked), () => Inner.AttentionPacked(qkv with { Buffer = U(qkv.Buffer)! }, scale)));
    }

    /// <summary>Counted as an Attention over the unpacked shapes; the destination is the written argument.</summary>
    public void AttentionPackedInto(Tensor destination, int columnOffset, PackedQkv qkv, float scale)
    {
        int batch = qkv.Buffer.Shape.Rank == 3 ? qkv.Buffer.Shape[0] : 0, sequence = qkv.Buffer.Shape.Rank == 3 ? qkv.Buffer.Shape[1] : 0;
        BeforeMatmul(nameof(Attention), new Shape(batch, sequence, qkv.Heads, qkv.HeadDim), new Shape(batch, sequence, qkv.KvHeads, qkv.HeadDim),
            new Shape(batch, sequence, qkv.KvHeads, qkv.HeadDim));
        Call(nameof(AttentionPackedInto), () => Inner.AttentionPackedInto(U(destination)!, columnOffset, qkv with { Buffer = U(qkv.Buffer)! }, scale));
    }

    /// <summary>The buffer is the written argument.</summary>
    public void PrepareAttentionInputsInPlace(PackedQkv qkv, IReadOnlyList<QkvPartNorms> parts, float eps, Tensor? cos = null, Tensor? sin = null) =>
        Call(nameof(PrepareAttentionInputsInPlace), () => Inner.PrepareAttentionInputsInPlace(qkv with { Buffer = U(qkv.Buffer)! },
            parts.Select(p => new QkvPartNorms(p.Tokens, U(p.NormQ), U(p.NormK))).ToArray(), eps, U(cos), U(sin)));

    // ---- v read where the fused Q/K/V GEMM wrote it (issue 16, Fusion 13) ----

    /// <summary>q and k wrapped; the packed buffer handed back is the caller's own (this backend's) tensor.</summary>
    public PackedValueInputs PrepareQueryKey(QkvPart part, int heads, int kvHeads, int headDim, float eps, Tensor? cos = null, Tensor? sin = null,
        QkNorm norm = QkNorm.RmsPerHead)
    {
        var r = Call(nameof(PrepareQueryKey), () => Inner.PrepareQueryKey(
            new QkvPart(U(part.Qkv)!, U(part.NormQ), U(part.NormK), U(part.NormQBias), U(part.NormKBias)), heads, kvHeads, headDim, eps, U(cos), U(sin), norm));
        return new PackedValueInputs(W(r.Q), W(r.K), new PackedQkv(part.Qkv, heads, kvHeads, headDim));
    }

    /// <summary>Counted as an Attention over q, k and the value columns' shape by <see cref="BeforeMatmul"/>.</summary>
    public Tensor AttentionPackedValue(Tensor q, Tensor k, PackedQkv qkv, float scale)
    {
        var b = qkv.Buffer.Shape;
        BeforeMatmul(nameof(Attention), q.Shape, k.Shape, new Shape(b.Rank == 3 ? b[0] : 0, b.Rank == 3 ? b[1] : 0, qkv.KvHeads, qkv.HeadDim));
        return W(Call(nameof(AttentionPackedValue), () => Inner.AttentionPackedValue(U(q)!, U(k)!, qkv with { Buffer = U(qkv.Buffer)! }, scale)));
    }

    // ---- q normalised as the attention loads it (issue 16, Fusion 15) ----

    /// <summary>k and the statistics wrapped; the buffer, weights and tables handed back are the caller's own tensors.</summary>
    public QueryOnLoadInputs PrepareKeyQueryStatistics(QkvPart part, int heads, int kvHeads, int headDim, float eps, Tensor? cos = null, Tensor? sin = null)
    {
        var r = Call(nameof(PrepareKeyQueryStatistics), () => Inner.PrepareKeyQueryStatistics(
            new QkvPart(U(part.Qkv)!, U(part.NormQ), U(part.NormK), U(part.NormQBias), U(part.NormKBias)), heads, kvHeads, headDim, eps, U(cos), U(sin)));
        var query = new QueryOnLoad(new PackedQkv(part.Qkv, heads, kvHeads, headDim), r.Query.Statistics is { } s ? W(s) : null, part.NormQ!,
            part.NormQBias, cos, sin, eps, r.Query.Materialised is { } q ? W(q) : null);
        return new QueryOnLoadInputs(query, W(r.K));
    }

    /// <summary>Counted as an Attention over q's, k's and the value columns' shapes by <see cref="BeforeMatmul"/>.</summary>
    public Tensor AttentionQueryOnLoad(QueryOnLoadInputs inputs, float scale)
    {
        var b = inputs.Packed.Buffer.Shape;
        int batch = b.Rank == 3 ? b[0] : 0, sequence = b.Rank == 3 ? b[1] : 0;
        var (_, heads, kvHeads, headDim) = inputs.Packed;
        BeforeMatmul(nameof(Attention), new Shape(batch, sequence, heads, headDim), inputs.K.Shape, new Shape(batch, sequence, kvHeads, headDim));
        return W(Call(nameof(AttentionQueryOnLoad), () => Inner.AttentionQueryOnLoad(new QueryOnLoadInputs(UnwrapQuery(inputs.Query), U(inputs.K)!), scale)));
    }

    /// <summary>The destination is the written argument.</summary>
    public void AttentionAddScaledIntoQueryOnLoad(Tensor destination, Tensor headScale, QueryOnLoad query, Tensor k, Tensor v, float scale, Tensor? keyMask = null)
    {
        var b = query.Packed.Buffer.Shape;
        BeforeMatmul(nameof(Attention), new Shape(b.Rank == 3 ? b[0] : 0, b.Rank == 3 ? b[1] : 0, query.Packed.Heads, query.Packed.HeadDim), k.Shape, v.Shape);
        Call(nameof(AttentionAddScaledIntoQueryOnLoad), () => Inner.AttentionAddScaledIntoQueryOnLoad(U(destination)!, U(headScale)!, UnwrapQuery(query),
            U(k)!, U(v)!, scale, U(keyMask)));
    }

    private QueryOnLoad UnwrapQuery(QueryOnLoad q) =>
        new(q.Packed with { Buffer = U(q.Packed.Buffer)! }, U(q.Statistics), U(q.Weight)!, U(q.Bias), U(q.Cos), U(q.Sin), q.Eps, U(q.Materialised));
}

/// <summary>A tensor of a <see cref="DelegatingBackend"/>: the inner backend's tensor, seen through the decorator.</summary>
public sealed class DelegatedTensor : Tensor
{
    internal DelegatedTensor(DelegatingBackend owner, Tensor inner) : base(owner, inner.Shape, inner.DType) => Inner = inner;

    public Tensor Inner { get; }

    protected override Tensor ReshapeCore(Shape shape) => new DelegatedTensor((DelegatingBackend)Backend, Inner.Reshape(shape.ToArray()));

    public override void Dispose()
    {
        Inner.Dispose();
        base.Dispose();
    }
}
