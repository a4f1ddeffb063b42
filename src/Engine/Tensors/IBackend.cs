namespace AccelAes.Engine.Tensors;

/// <summary>
/// The op set every model is written against. A backend owns its tensors' storage; ops take tensors of
/// the same backend and return new ones (or update one in place where the name says so).
///
/// Conventions for every implementation (the CPU backend is the reference, see DESIGN.md §2):
/// row-major dense tensors; "rows" means all leading dimensions flattened; activations are stored in
/// <see cref="ActivationType"/> and every reduction accumulates in fp32.
/// </summary>
public interface IBackend : IDisposable
{
    /// <summary>Short name for messages and tables ("cpu", "cuda:0").</summary>
    string Name { get; }

    /// <summary>Storage type of activations (F32 on the CPU reference, BF16 on CUDA).</summary>
    DType ActivationType { get; }

    /// <summary>
    /// Marks a named span of work for profilers (<c>using (be.Range("step 3/28")) { ... }</c>): an NVTX range on
    /// CUDA, nothing by default. Pipelines mark load, text encoding, each step and decode; models mark each
    /// transformer block ("joint_block 5").
    /// </summary>
    IDisposable Range(string name) => ProfilerRange.None;

    // ---- Memory -------------------------------------------------------------------------------

    /// <summary>
    /// A new tensor holding <paramref name="values"/>. Its storage type is the backend's choice: the CUDA backend keeps
    /// uploads in fp32 (timesteps, latents and tables must not be rounded to bf16) and converts on use where an op computes in bf16.
    /// </summary>
    Tensor Upload(ReadOnlySpan<float> values, Shape shape);

    /// <summary>A new weight tensor from raw little-endian bytes of type <paramref name="source"/>.</summary>
    Tensor UploadWeight(ReadOnlySpan<byte> bytes, DType source, Shape shape);

    /// <summary>
    /// A new Linear weight [out, in] quantised to fp8: <paramref name="codes"/> are e4m3 codes (row-major, one byte per
    /// element), <paramref name="scales"/> one fp32 scale per output row (a per-tensor scale repeated). Its values are
    /// decode(code) · scale in fp32, which is what this default computes with: the exactly dequantised weight through
    /// <see cref="UploadWeight"/> (the CPU reference, DESIGN §8). The CUDA backend overrides it to keep the codes and
    /// scales on the device (1 byte per element) and reads them as bf16(decode(code) · scale), the value an F32 upload
    /// of the dequantised weight rounds to.
    /// </summary>
    Tensor UploadFp8Weight(ReadOnlySpan<byte> codes, ReadOnlySpan<float> scales, Shape shape)
    {
        var values = Fp8WeightValues.Dequantise(codes, scales, shape);
        return UploadWeight(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()), DType.F32, shape);
    }

    /// <summary>A new tensor of zeros.</summary>
    Tensor Zeros(Shape shape);

    /// <summary>
    /// A new activation tensor (<see cref="ActivationType"/>) whose contents are unspecified until written: the buffer that
    /// <see cref="LinearInto"/> and <see cref="AttentionInto"/> fill by column slices, so that a concatenation of their
    /// outputs costs no copy and no memset. Every element must be written before it is read (the CUDA backend's tests
    /// poison new tensors with NaN to catch one that is not).
    /// </summary>
    Tensor Allocate(Shape shape);

    /// <summary>A new tensor of 32-bit integer indices (token ids, row indices for gathers).</summary>
    Tensor UploadIndices(ReadOnlySpan<int> values, Shape shape);

    /// <summary>Copies a tensor's values to the host as fp32.</summary>
    float[] Download(Tensor tensor);

    // ---- Linear algebra -----------------------------------------------------------------------

    /// <summary>y = act(x·Wᵀ + b): x [..., K], weight [N, K] (PyTorch Linear layout), bias [N] → [..., N].</summary>
    Tensor Linear(Tensor x, Tensor weight, Tensor? bias, Activation activation = Activation.None);

    /// <summary>
    /// <see cref="Linear"/> written into columns [<paramref name="columnOffset"/>, <paramref name="columnOffset"/> + N) of
    /// <paramref name="destination"/> [..., C], which has x's rows; its other columns are left as they are. The values
    /// are exactly Linear's: <c>Concat(-1, Linear(a, …), Linear(b, …))</c> equals two LinearInto calls on one
    /// <see cref="Allocate"/>d buffer, without the concatenation's copy (FLUX's single blocks, issue 16).
    /// </summary>
    void LinearInto(Tensor destination, int columnOffset, Tensor x, Tensor weight, Tensor? bias, Activation activation = Activation.None);

    /// <summary>
    /// <see cref="Attention"/> (no causality, no bias) written into columns [<paramref name="columnOffset"/>,
    /// <paramref name="columnOffset"/> + Hq·Dv) of <paramref name="destination"/> [B, Sq, C], heads side by side as
    /// Attention's output reshaped to [B, Sq, Hq·Dv]; the other columns are left as they are. Same values as Attention.
    /// </summary>
    void AttentionInto(Tensor destination, int columnOffset, Tensor q, Tensor k, Tensor v, float scale, Tensor? keyMask = null);

    /// <summary>
    /// softmax(Q·Kᵀ·scale + mask)·V per head. q [B, Sq, Hq, D], k [B, Sk, Hkv, D], v [B, Sk, Hkv, Dv] → [B, Sq, Hq, Dv].
    /// Grouped-query attention: query head h reads key/value head h / (Hq / Hkv).
    /// <paramref name="keyMask"/> [B, Sk]: 0 excludes a key (padding), any other value keeps it.
    /// <paramref name="causal"/>: query i sees keys j ≤ i + (Sk − Sq).
    /// <paramref name="bias"/> [Hq, Sq, Sk] or [B, Hq, Sq, Sk]: added to the scaled scores (T5's relative positions).
    /// A query row that sees no key at all (every key masked, or causal with Sq &gt; Sk for its first Sq − Sk rows) is zeros.
    /// </summary>
    Tensor Attention(Tensor q, Tensor k, Tensor v, float scale, Tensor? keyMask = null, bool causal = false, Tensor? bias = null);

    /// <summary>
    /// <see cref="Attention"/> that also reduces its softmax probabilities against per-key weights:
    /// affinity[b, h, i] = Σⱼ P[b, h, i, j] · keyWeights[b, j] (fp32, [B, Hq, Sq]). AesMask's capture: image
    /// queries × weighted text keys, without materialising the [Sq, Sk] probability map.
    /// </summary>
    (Tensor Output, Tensor Affinity) AttentionWithAffinity(Tensor q, Tensor k, Tensor v, float scale, Tensor keyWeights, Tensor? keyMask = null);

    // ---- Normalisation and modulation ---------------------------------------------------------

    /// <summary>LayerNorm over the last dimension (biased variance, eps inside the square root), optional affine.</summary>
    Tensor LayerNorm(Tensor x, float eps, Tensor? weight = null, Tensor? bias = null);

    /// <summary>x·rsqrt(mean(x²) + eps)·w over the last dimension (w optional).</summary>
    Tensor RmsNorm(Tensor x, float eps, Tensor? weight = null);

    /// <summary>GroupNorm of x [B, C, ...spatial] with <paramref name="groups"/> groups, per-channel affine.</summary>
    Tensor GroupNorm(Tensor x, int groups, float eps, Tensor weight, Tensor bias);

    /// <summary>
    /// adaLN modulation: x [B, S, D] → x·(1 + scale[b]) + shift[b], scale and shift [B, D] (either may be null).
    /// </summary>
    Tensor Modulate(Tensor x, Tensor? scale, Tensor? shift);

    /// <summary>
    /// <see cref="Modulate"/>(<see cref="LayerNorm"/>(x, eps), scale, shift) in one op: adaLN's LayerNorm has no affine,
    /// and a DiT block modulates right after it. One pass on the device, the normalised row not stored in between (so
    /// not rounded to bf16 there either). x [B, S, D], scale and shift [B, D] (either may be null).
    /// </summary>
    Tensor LayerNormModulate(Tensor x, float eps, Tensor? scale, Tensor? shift);

    /// <summary>
    /// <see cref="Modulate"/>(<see cref="RmsNorm"/>(x, eps, weight), scale, shift) in one op, as
    /// <see cref="LayerNormModulate"/> (Lumina's adaLN normalises with an RMSNorm). x [B, S, D], weight [D], scale and
    /// shift [B, D], each optional.
    /// </summary>
    Tensor RmsNormModulate(Tensor x, float eps, Tensor? weight, Tensor? scale, Tensor? shift);

    /// <summary>Gated residual, in place: residual [B, S, D] += gate[b] ⊙ y (gate [B, D]; null = 1).</summary>
    void AddGatedInPlace(Tensor residual, Tensor y, Tensor? gate);

    // ---- Residual path (issue 16): gated residual adds folded into the op before them ---------------

    /// <summary>
    /// <c>AddGatedInPlace(residual, Linear(x, weight, bias), gate)</c> in one op: residual [B, S, N] += gate[b] ⊙
    /// (x·Wᵀ + bias), x [B, S, K], weight [N, K], bias [N], gate [B, N] (null = 1). The projection is not stored in
    /// between: on CUDA it is cuBLASLt's epilogue (per-feature alpha vector = the gate, β = 1, C = D = the residual), so
    /// the sum is rounded to bf16 once (see src/Engine/Backends/Cuda/README.md for the exact rounding).
    /// </summary>
    void LinearAddGatedInPlace(Tensor residual, Tensor x, Tensor weight, Tensor? bias, Tensor? gate);

    /// <summary>
    /// Lumina's post-norm gated residual in one op: residual [B, S, D] += tanh(gate[b]) ⊙ RMSNorm(y, eps, weight)
    /// (y [B, S, D], weight [D] optional, gate [B, D]): <c>AddGatedInPlace(residual, RmsNorm(y, eps, weight),
    /// Activate(gate, Tanh))</c> without storing the normalised rows or the tanh of the gate.
    /// </summary>
    void RmsNormAddTanhGatedInPlace(Tensor residual, Tensor y, float eps, Tensor? weight, Tensor gate);

    /// <summary>
    /// <see cref="RmsNormAddTanhGatedInPlace"/>, then the op that follows it in Lumina's block: returns
    /// <c>RmsNormModulate(residual, modulateEps, modulateWeight, scale, shift)</c> of the updated residual, in one pass
    /// (the updated rows are normalised as stored, so the result equals the two ops').
    /// </summary>
    Tensor RmsNormAddTanhGatedThenModulate(Tensor residual, Tensor y, float eps, Tensor? weight, Tensor gate,
        float modulateEps, Tensor? modulateWeight, Tensor? scale, Tensor? shift);

    // ---- Pointwise ----------------------------------------------------------------------------

    Tensor Activate(Tensor x, Activation activation);

    /// <summary>a + b, where b's shape equals a trailing part of a's shape (broadcast over the leading dimensions).</summary>
    Tensor Add(Tensor a, Tensor b);

    /// <summary>a ⊙ b, where b's shape equals a trailing part of a's shape (broadcast over the leading dimensions).</summary>
    Tensor Multiply(Tensor a, Tensor b);

    /// <summary>x·s.</summary>
    Tensor Scale(Tensor x, float s);

    /// <summary>ReLU, elementwise: y = x where x ≥ 0 or x is NaN, else 0 (torch.relu; NaN propagates). Original T5's feed-forward.</summary>
    Tensor Relu(Tensor x);

    /// <summary>Softmax over the last dimension (fp32 accumulation).</summary>
    Tensor Softmax(Tensor x);

    // ---- Positional encodings and embeddings --------------------------------------------------

    /// <summary>
    /// Rotary embedding: x [B, S, H, D], cos/sin [S, P] with P ≤ D/2 pairs; pair i = (a, b) →
    /// (a·cᵢ − b·sᵢ, b·cᵢ + a·sᵢ). <see cref="RotaryPairing.Adjacent"/>: a = x₂ᵢ, b = x₂ᵢ₊₁ (FLUX, Lumina);
    /// <see cref="RotaryPairing.Halves"/>: a = xᵢ, b = x_{i+D/2} (HF rotate_half: Gemma). Features not in a pair pass through.
    /// </summary>
    Tensor Rotary(Tensor x, Tensor cos, Tensor sin, RotaryPairing pairing = RotaryPairing.Adjacent);

    /// <summary>
    /// diffusers get_timestep_embedding: t [B] → [B, dim], with frequencies exp(−ln(maxPeriod)·j/(dim/2 − shift)),
    /// computed in fp32 as torch does; [sin, cos] or, when <paramref name="flipSinToCos"/>, [cos, sin].
    /// </summary>
    Tensor TimestepEmbedding(Tensor t, int dim, bool flipSinToCos, float downscaleFreqShift, float scale = 1f, float maxPeriod = 10000f);

    // ---- Layout -------------------------------------------------------------------------------

    /// <summary>
    /// Row gather: table [N, D], indices (I32, any shape) → [...indices, D]; out[i] = table[indices[i]].
    /// Embedding lookups, pooled-token selection and focus-token gathers.
    /// </summary>
    Tensor GatherRows(Tensor table, Tensor indices);

    /// <summary>
    /// Row scatter, in place: destination [R, D] row indices[i] ← source row i, for source [n, D] and I32 indices [n].
    /// SkipSparse writes focus rows into a layer's cached output this way.
    /// </summary>
    void ScatterRowsInPlace(Tensor destination, Tensor indices, Tensor source);

    /// <summary>A copy of a tensor (caches keep their own storage).</summary>
    Tensor Copy(Tensor x);

    /// <summary>Concatenation along <paramref name="axis"/>; all other dimensions must agree.</summary>
    Tensor Concat(int axis, params Tensor[] parts);

    /// <summary>Elements [start, start + length) along <paramref name="axis"/>.</summary>
    Tensor Slice(Tensor x, int axis, int start, int length);

    /// <summary>Swaps the last two dimensions: [..., M, N] → [..., N, M].</summary>
    Tensor TransposeLast2(Tensor x);

    /// <summary>x [B, C, H, W] → tokens [B, (H/p)·(W/p), C·p·p], tokens row-major over the patch grid.</summary>
    Tensor Patchify(Tensor x, int patch, PatchLayout layout);

    /// <summary>Inverse of <see cref="Patchify"/>: tokens [B, (H/p)·(W/p), C·p·p] → [B, C, H, W].</summary>
    Tensor Unpatchify(Tensor tokens, int channels, int height, int width, int patch, PatchLayout layout);

    // ---- Convolution --------------------------------------------------------------------------

    /// <summary>2-D cross-correlation: x [B, Cin, H, W], weight [Cout, Cin, kh, kw], zero padding.</summary>
    Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, int stride, int padding);

    /// <summary>Nearest-neighbour ×2 upsampling of x [B, C, H, W].</summary>
    Tensor UpsampleNearest2x(Tensor x);

    // ---- Sampling -----------------------------------------------------------------------------

    /// <summary>Classifier-free guidance: uncond + scale·(cond − uncond).</summary>
    Tensor GuidanceCombine(Tensor uncond, Tensor cond, float scale);

    /// <summary>
    /// Spatial classifier-free guidance: uncond + scale ⊙ (cond − uncond), where <paramref name="scale"/>'s shape is a
    /// trailing part of cond's (a [H, W] map broadcast over batch and channels of [B, C, H, W]).
    /// </summary>
    Tensor GuidanceCombine(Tensor uncond, Tensor cond, Tensor scale);

    /// <summary>StepCache extrapolation in fp32: fma(coefficient, latest − previous, latest) (the rounding is part of the contract).</summary>
    Tensor Extrapolate(Tensor latest, Tensor previous, float coefficient);

    /// <summary>
    /// The two sums TeaCache's relative L1 distance needs, over every element of two same-shaped tensors: a [2] F32
    /// tensor holding Σ|a − b| and Σ|b|. Each difference is rounded to fp32, and the sums are accumulated in fp64 and
    /// rounded to fp32 once at the end, so the result does not depend on the summation order beyond that last rounding
    /// (the backends agree within one fp32 ulp) and is identical on every run of the same backend.
    /// </summary>
    Tensor AbsDifferenceSums(Tensor a, Tensor b);

    /// <summary>Euler step in fp32, in place: latents += dt·velocity.</summary>
    void EulerStepInPlace(Tensor latents, Tensor velocity, float dt);

    /// <summary>Number of NaN or infinite elements (the sampler stops on a non-finite latent and names the step).</summary>
    int CountNonFinite(Tensor x);

    // ---- FFN and elementwise fusions (issue 16, FFN path) -------------------------------------

    /// <summary>
    /// SwiGLU's gating after one GEMM of the concatenated gate and up weights: x [..., 2F] holds the gate half in
    /// columns [0, F) and the up half in [F, 2F); returns SiLU(x[..., :F]) ⊙ x[..., F:] as [..., F], each input read once.
    /// </summary>
    Tensor SiluMul(Tensor gateAndUp);

    /// <summary>
    /// a + b ⊙ scale in one pass: a and b of one shape, scale's shape a trailing part of theirs (broadcast over the leading
    /// dimensions), as <see cref="Add"/>(a, <see cref="Multiply"/>(b, scale)) without the intermediate tensor.
    /// </summary>
    Tensor AddScaled(Tensor a, Tensor b, Tensor scale);

    // ---- SwiGLU in the GEMM epilogue (issue 16, Fusion 11) ---------------------------------------

    /// <summary>
    /// A bias-free SwiGLU's up-projections and gating in one op: <paramref name="gateUpWeight"/> [2F, K] holds the gate
    /// weight in rows [0, F) and the up weight in rows [F, 2F) (joined at load); returns SiLU(x·W_gateᵀ) ⊙ (x·W_upᵀ) as
    /// [..., F] for x [..., K]. The values of <c>SiluMul(Linear(x, gateUpWeight, null))</c>: a device rounds the gate and the
    /// up product to bf16 (as that GEMM's output is) and the result once, and may differ from that pair of ops only by the
    /// order of accumulation (CUDA: one tensor-core GEMM with a SiLU·mul epilogue, gemm_swiglu.cu, or that pair of ops).
    /// </summary>
    Tensor LinearSwiGlu(Tensor x, Tensor gateUpWeight);

    // ---- Accumulating attention (issue 16, attention epilogue) ----------------------------------

    /// <summary>
    /// destination += headScale[h] · <see cref="Attention"/>(q, k, v, scale, keyMask), in place: destination [B, Sq, Hq, Dv]
    /// (Attention's output shape), <paramref name="headScale"/> [Hq] one factor per query head. The values of
    /// <c>AddScaled(destination, Attention(…), headScale broadcast over Dv)</c> except that the attention output is not
    /// stored (so on a bf16 device not rounded) before the scaled add: a device rounds each destination element once.
    /// A query row that sees no key adds zero. Lumina-Next's block: A_self + tanh(gate)[h]·A_cross without the cross
    /// output's round trip through memory.
    /// </summary>
    void AttentionAddScaledInto(Tensor destination, Tensor headScale, Tensor q, Tensor k, Tensor v, float scale, Tensor? keyMask = null);

    // ---- Fused attention inputs (issue 16, QKV path) -------------------------------------------

    /// <summary>
    /// <see cref="Linear"/> (no activation) of rows [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>)
    /// along axis 1 of <paramref name="x"/> [B, S, K] → [B, count, N]: the values of <c>Linear(Slice(x, 1, start, count), …)</c>
    /// without the slice's copy (the GEMM reads the rows where they are: a joint attention's image and text outputs).
    /// </summary>
    Tensor LinearOfRows(Tensor x, int start, int count, Tensor weight, Tensor? bias);

    // ---- Gated projections over row ranges (issue 16, Fusion 6) ----------------------------------

    /// <summary>
    /// <see cref="LinearAddGatedInPlace"/> over rows [<paramref name="start"/>, <paramref name="start"/> + <paramref name="count"/>)
    /// along axis 1 of <paramref name="x"/> [B, S, K], read in place: residual [B, count, N] += gate[b] ⊙ (rows·Wᵀ + bias).
    /// The values of <c>LinearAddGatedInPlace(residual, Slice(x, 1, start, count), …)</c> without the slice's copy (a joint
    /// attention's gated output projections of its text and image rows).
    /// </summary>
    void LinearOfRowsAddGatedInPlace(Tensor residual, Tensor x, int start, int count, Tensor weight, Tensor? bias, Tensor? gate);

    /// <summary>
    /// The attention inputs from fused Q/K/V projections, in one pass: for each part (a stream, e.g. FLUX's text then
    /// image), q, k and v split into heads, q and k normalised (eps <paramref name="eps"/>) with the part's weights — RMSNorm
    /// per head, or LayerNorm over the whole width before the split (<paramref name="norm"/>) — the parts joined along the sequence in order, and RoPE (adjacent pairs, <see cref="Rotary"/>'s rule) on the
    /// joined q and k when <paramref name="cos"/>/<paramref name="sin"/> [S, P ≤ hd/2] are given. Replaces the Slice,
    /// RmsNorm, Concat and Rotary passes (<see cref="AttentionInputsOp.Compose"/> is that definition): a device rounds q and
    /// k once, after the rotation; v is copied exactly. Parts [B, nᵢ, (H + 2·Hkv)·hd] → q [B, S, H, hd], k, v [B, S, Hkv, hd].
    /// </summary>
    AttentionInputs PrepareAttentionInputs(IReadOnlyList<QkvPart> parts, int heads, int kvHeads, int headDim, float eps, Tensor? cos = null, Tensor? sin = null,
        QkNorm norm = QkNorm.RmsPerHead);

    // ---- Gates prepared once per block (issue 16, FLUX launches) --------------------------------

    /// <summary>
    /// Prepares a block's gates for the gated-residual epilogues of its projections, all in one op: entry i is a gate [B, N]
    /// and the bias [N] (or null) of the projection it gates; every gate has one shape. A device makes every entry's epilogue
    /// vectors here (CUDA with cuBLASLt: the fp32 alpha vector and the gate-scaled bias, one launch for up to four entries)
    /// instead of one launch per projection; a backend that needs no vectors keeps the gates as given.
    /// </summary>
    IReadOnlyList<PreparedGate> PrepareGates(IReadOnlyList<(Tensor Gate, Tensor? Bias)> gates);

    /// <summary>
    /// <see cref="LinearAddGatedInPlace"/> with a gate from <see cref="PrepareGates"/>:
    /// residual += gate.Gate[b] ⊙ (x·Wᵀ + gate.Bias), the same values, the prepared epilogue vectors used as they are.
    /// </summary>
    void LinearAddPreparedGateInPlace(Tensor residual, Tensor x, Tensor weight, PreparedGate gate);

    /// <summary>
    /// <see cref="LinearOfRowsAddGatedInPlace"/> with a gate from
    /// <see cref="PrepareGates"/>: the same values, the prepared epilogue vectors used as they are.
    /// </summary>
    void LinearOfRowsAddPreparedGateInPlace(Tensor residual, Tensor x, int start, int count, Tensor weight, PreparedGate gate);

    // ---- Attention over a packed QKV buffer (issue 16, Fusion 7) ---------------------------------

    /// <summary>
    /// <see cref="Linear"/> of x [B, n, K] written into rows [<paramref name="rowOffset"/>, <paramref name="rowOffset"/> + n) of
    /// every batch item of <paramref name="destination"/> [B, S, N] (N = the weight's rows: whole rows); the other rows are left
    /// as they are. The values are exactly Linear's: two streams' fused QKV GEMMs fill one <see cref="PackedQkv"/> buffer, joined
    /// along the sequence, without the join's copy.
    /// </summary>
    void LinearIntoRows(Tensor destination, int rowOffset, Tensor x, Tensor weight, Tensor? bias);

    /// <summary>
    /// <see cref="Attention"/> (no mask, causality or bias) of the q, k and v held in a packed buffer, read in place with the
    /// buffer's row stride: the values of <c>Attention(Unpack(qkv).Q, .K, .V, scale)</c> (<see cref="PackedQkvOp.Unpack"/>)
    /// without the copies. → [B, S, H, hd].
    /// </summary>
    Tensor AttentionPacked(PackedQkv qkv, float scale);

    /// <summary>
    /// <see cref="AttentionPacked"/> written into columns [<paramref name="columnOffset"/>, <paramref name="columnOffset"/> + H·hd)
    /// of <paramref name="destination"/> [B, S, C] (as <see cref="AttentionInto"/>): FLUX's single blocks, no copy on either side.
    /// </summary>
    void AttentionPackedInto(Tensor destination, int columnOffset, PackedQkv qkv, float scale);

    /// <summary>
    /// <see cref="PrepareAttentionInputs"/> (per-head RMSNorm) in place on a packed buffer: each part's rows of q and k
    /// normalised with its weights, then q and k rotated over the whole sequence when <paramref name="cos"/>/<paramref name="sin"/>
    /// are given, written back into their columns; v is not touched. The values are those of PrepareAttentionInputs on the
    /// parts' row slices (<see cref="AttentionInputsOp.Compose"/>); a device rounds q and k once.
    /// </summary>
    void PrepareAttentionInputsInPlace(PackedQkv qkv, IReadOnlyList<QkvPartNorms> parts, float eps, Tensor? cos = null, Tensor? sin = null);

    // ---- v read where the fused Q/K/V GEMM wrote it (issue 16, Fusion 13: Lumina's self-attention) ----------

    /// <summary>
    /// <see cref="PrepareAttentionInputs"/> of one part without v: q [B, S, H, hd] and k [B, S, Hkv, hd] normalised and rotated
    /// exactly as that op does (a device gives the same bits), written as contiguous tensors; v is neither read nor copied but
    /// stays in <paramref name="part"/>'s buffer, returned as <see cref="PackedValueInputs.Packed"/> for
    /// <see cref="AttentionPackedValue"/>. q and k stay ordinary tensors because other paths read them as such (a query
    /// shared with another attention, a sparse step's row gather, RAS's key cache).
    /// </summary>
    PackedValueInputs PrepareQueryKey(QkvPart part, int heads, int kvHeads, int headDim, float eps, Tensor? cos = null, Tensor? sin = null,
        QkNorm norm = QkNorm.RmsPerHead);

    /// <summary>
    /// <see cref="Attention"/> (no mask, causality or bias) of q [B, Sq, H, hd] and k [B, S, Hkv, hd] with the values read in place
    /// from the value columns of <paramref name="qkv"/> [B, S, (H + 2·Hkv)·hd] (its row stride): the values of
    /// <c>Attention(q, k, PackedValueOp.Value(qkv), scale)</c> without v's copy. Sq may be any number of rows (a sparse step's
    /// focus queries over every token's keys). → [B, Sq, H, hd].
    /// </summary>
    Tensor AttentionPackedValue(Tensor q, Tensor k, PackedQkv qkv, float scale);

    // ---- q normalised as the attention loads it (issue 16, Fusion 15: Lumina's dense self- and cross-attention) ----

    /// <summary>
    /// <see cref="PrepareQueryKey"/> with a LayerNorm across heads, without writing q: k [B, S, Hkv, hd] normalised and rotated
    /// exactly as that op does, and of q only its per-token LayerNorm statistics (mean, rstd: fp32 [B, S, 2], computed as that
    /// op computes them), handed back with the raw buffer, weight, bias and tables as a <see cref="QueryOnLoad"/> for
    /// <see cref="AttentionQueryOnLoad"/> / <see cref="AttentionAddScaledIntoQueryOnLoad"/>. <paramref name="part"/>'s q norm
    /// weight is required.
    /// </summary>
    QueryOnLoadInputs PrepareKeyQueryStatistics(QkvPart part, int heads, int kvHeads, int headDim, float eps, Tensor? cos = null, Tensor? sin = null);

    /// <summary>
    /// <see cref="AttentionPackedValue"/> with the query <see cref="QueryOnLoadOp.Materialise"/> would give, normalised and rotated
    /// as the kernel loads it (a device gives the bits of PrepareQueryKey + AttentionPackedValue): every token's query over every
    /// token's keys, values read in the buffer's value columns. → [B, S, H, hd].
    /// </summary>
    Tensor AttentionQueryOnLoad(QueryOnLoadInputs inputs, float scale);

    /// <summary>
    /// <see cref="AttentionAddScaledInto"/> with the query <see cref="QueryOnLoadOp.Materialise"/> would give (attn2 sharing attn1's
    /// query): destination [B, S, H, Dv] += headScale[h] · attention(q, k, v), q normalised as the kernel loads it.
    /// </summary>
    void AttentionAddScaledIntoQueryOnLoad(Tensor destination, Tensor headScale, QueryOnLoad query, Tensor k, Tensor v, float scale, Tensor? keyMask = null);
}
