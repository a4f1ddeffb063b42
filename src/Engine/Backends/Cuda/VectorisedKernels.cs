namespace AccelAes.Engine.Backends.Cuda;

/// <summary>
/// The grid-stride kernels that move 8 elements per thread per iteration (16-byte accesses, vec.cuh; issue 16): their
/// grids are sized for n / 8 threads. When a launch's pointers or widths rule the vector path out, the kernel's scalar
/// loop covers all n through the same grid's stride, so the sizing is never wrong, only tuned for the common case.
/// </summary>
internal static class VectorisedKernels
{
    private static readonly HashSet<string> EightPerThread = new(StringComparer.Ordinal)
    {
        "activate_bf16", "activate_f32", "activate_f32_to_bf16", "scale_bf16", "scale_f32", "relu_bf16", "relu_f32",
        "add_bf16", "add_broadcast_bf16", "add_broadcast_f32", "mul_broadcast_bf16", "mul_broadcast_f32",
        "convert_f32_to_bf16", "convert_bf16_to_f32", "convert_f16_to_bf16", "modulate_bf16",
        "gather_rows_b16", "gather_rows_b32", "scatter_rows_b16", "scatter_rows_b32",
        "silu_mul_bf16", "add_scaled_bf16", "dequantize_e4m3_rows_bf16",
    };

    /// <summary>The number of threads a grid-stride launch of <paramref name="kernel"/> over n elements wants.</summary>
    public static ulong Threads(string kernel, ulong n) => EightPerThread.Contains(kernel) ? (n + 7) / 8 : n;
}
