using AccelAes.Engine.Backends;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;
using AccelAes.Kernels;

namespace AccelAes.Engine.Diagnostics;

/// <summary>
/// The CPU reference as the CUDA backend stores data: every tensor an op returns (weights and inputs as they are
/// uploaded, every activation) is rounded to bf16, while the op itself still computes in fp32 — bf16 storage with
/// fp32 accumulation, what the device does. <see cref="ModelSelfTest"/> measures what that storage alone costs a
/// whole forward, which is the model-level form of DESIGN.md §4's rule ("at most twice the error of the CPU op on
/// bf16-rounded inputs"): a deep network such as the VAE decoder rounds its activations dozens of times, and
/// rounding only the weights underestimates that by a factor of two or more.
/// </summary>
/// <remarks>
/// The in-place ops (gated residual adds, cache writes) are not rounded — their target is not visible to the hook —
/// so this slightly underestimates bf16's cost, never overestimates it. Index tensors are integers and untouched.
/// </remarks>
internal sealed class Bf16StorageBackend(IBackend cpu) : DelegatingBackend(cpu)
{
    public override string Name => Inner.Name + " (bf16 storage)";

    protected override T Call<T>(string op, Func<T> run)
    {
        var result = run();
        switch (result)
        {
            case CpuTensor tensor:
                Round(tensor);
                break;
            case ValueTuple<Tensor, Tensor> pair:
                if (pair.Item1 is CpuTensor first) Round(first);
                if (pair.Item2 is CpuTensor second) Round(second);
                break;
        }
        return result;
    }

    private static void Round(CpuTensor tensor)
    {
        var values = tensor.Span;
        for (int i = 0; i < values.Length; i++)
            values[i] = BFloat16Bits.Round(values[i]);
    }
}
