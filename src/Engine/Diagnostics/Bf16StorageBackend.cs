using System.Runtime.CompilerServices;
using AccelAes.Engine.Backends;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;
using AccelAes.Kernels;

namespace AccelAes.Engine.Diagnostics;

/// <summary>
/// The CPU reference as the CUDA backend stores data: every tensor the device would hold in bf16 is rounded to bf16
/// when an op produces it, while each op still computes in fp32 — bf16 storage with fp32 accumulation, what the
/// device does. <see cref="ModelSelfTest"/> measures what that storage alone costs a whole forward, which is the
/// model-level form of DESIGN.md §4's rule ("at most twice the error of the CPU op on bf16-rounded inputs"): a deep
/// network such as the VAE decoder rounds its activations dozens of times, and rounding only the weights
/// underestimates that by a factor of two or more.
/// </summary>
/// <remarks>
/// The device's dtype rules (CudaBackend.*.cs), followed here: uploads of values stay fp32 (timesteps, latents, RoPE
/// tables), weights are bf16; Linear, attention, the norms, modulation, convolution, softmax, RoPE and timestep
/// embeddings always write bf16 (attention's affinity stays fp32); every other op (adds, scales, activations,
/// guidance, extrapolation, layout) writes fp32 when all its inputs are fp32 and bf16 otherwise, except the
/// reductions read back to the host (TeaCache's AbsDifferenceSums), which always write fp32; an in-place op
/// rounds its target unless the target is fp32. Rounding FLUX's 1000·t to bf16, which a rule-blind rounding does,
/// would move its timestep embedding twenty times more than anything the device does.
/// </remarks>
internal sealed class Bf16StorageBackend(IBackend cpu) : DelegatingBackend(cpu)
{
    /// <summary>The ops whose output the CUDA backend always allocates as bf16 (New(…, DType.BF16)).</summary>
    private static readonly HashSet<string> AlwaysBf16 = new(StringComparer.Ordinal)
    {
        nameof(UploadWeight), nameof(UploadFp8Weight), nameof(Allocate), nameof(Linear), nameof(LinearOfRows), nameof(Attention), nameof(AttentionWithAffinity), nameof(AttentionPacked), nameof(AttentionPackedValue), nameof(AttentionQueryOnLoad), nameof(LayerNorm),
        nameof(RmsNorm), nameof(GroupNorm), nameof(Modulate), nameof(LayerNormModulate), nameof(RmsNormModulate), nameof(Conv2d), nameof(Softmax), nameof(Rotary),
        nameof(TimestepEmbedding), nameof(RmsNormAddTanhGatedThenModulate), nameof(SiluMul), nameof(AddScaled), nameof(LinearSwiGlu),
    };

    /// <summary>Ops that return a new tensor and also update their first argument in place (rounded like an in-place op's).</summary>
    private static readonly HashSet<string> AlsoInPlace = new(StringComparer.Ordinal) { nameof(RmsNormAddTanhGatedThenModulate) };

    /// <summary>The ops whose output the CUDA backend always allocates as fp32, whatever its inputs.</summary>
    private static readonly HashSet<string> AlwaysFp32 = new(StringComparer.Ordinal) { nameof(AbsDifferenceSums) };

    /// <summary>Storage (a CPU tensor's array: views such as reshapes share it) that is fp32 on the device.</summary>
    private readonly ConditionalWeakTable<float[], object> _fp32 = [];

    public override string Name => Inner.Name + " (bf16 storage)";

    protected override T Call<T>(string op, Func<T> run)
    {
        var result = RunRecordingInputs(run, out var inputs);
        if (AlsoInPlace.Contains(op) && inputs.Count > 0 && inputs[0] is CpuTensor target && !_fp32.TryGetValue(target.Data, out _))
            Round(target);
        bool fp32 = op == nameof(Upload) || AlwaysFp32.Contains(op) || (!AlwaysBf16.Contains(op) && AllFp32(inputs));
        switch (result)
        {
            case CpuTensor tensor when fp32:
                _fp32.AddOrUpdate(tensor.Data, this);
                break;
            case CpuTensor tensor:
                Round(tensor);
                break;
            case AttentionInputs qkv: // q, k and v are bf16 on the device (PrepareAttentionInputs)
                foreach (var t in new[] { qkv.Q, qkv.K, qkv.V })
                    if (t is CpuTensor c) Round(c);
                break;
            case PackedValueInputs qk: // PrepareQueryKey: q and k are bf16 on the device (v stays in the bf16 GEMM output)
                foreach (var t in new[] { qk.Q, qk.K })
                    if (t is CpuTensor c) Round(c);
                break;
            case ValueTuple<Tensor, Tensor> pair when pair.Item1 is CpuTensor output:
                Round(output); // AttentionWithAffinity: the affinity stays fp32 on the device
                if (pair.Item2 is CpuTensor affinity) _fp32.AddOrUpdate(affinity.Data, this);
                break;
        }
        return result;
    }

    protected override void Call(string op, Action run)
    {
        RunRecordingInputs(() => { run(); return 0; }, out var inputs);
        // In-place ops write their first argument (the residual, the cache, the latents).
        if (inputs.Count > 0 && inputs[0] is CpuTensor target && !_fp32.TryGetValue(target.Data, out _))
            Round(target);
    }

    private bool AllFp32(IReadOnlyList<Tensor> inputs)
    {
        bool any = false;
        foreach (var input in inputs)
        {
            if (input is not CpuTensor tensor)
                continue; // index tensors decide nothing
            any = true;
            if (!_fp32.TryGetValue(tensor.Data, out _))
                return false;
        }
        return any;
    }

    private static void Round(CpuTensor tensor)
    {
        var values = tensor.Span;
        for (int i = 0; i < values.Length; i++)
            values[i] = BFloat16Bits.Round(values[i]);
    }
}
