using AccelAes.Engine.Tensors;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

public sealed partial class CudaBackend
{
    /// <summary>uncond + scale·(cond − uncond); F32 when both are F32, otherwise BF16.</summary>
    public Tensor GuidanceCombine(Tensor uncond, Tensor cond, float scale) => PairWithScalar("GuidanceCombine", "guidance_combine", uncond, cond, scale);

    /// <summary>Spatial guidance: uncond + scale ⊙ (cond − uncond), scale (read as fp32) broadcast over cond's leading dimensions.</summary>
    public Tensor GuidanceCombine(Tensor uncond, Tensor cond, Tensor scale)
    {
        RequireSameShape(uncond, cond, "GuidanceCombine");
        int inner = RequireTrailing(cond, scale, "GuidanceCombine");
        var cu = Float(uncond, "GuidanceCombine");
        var cc = Float(cond, "GuidanceCombine");
        var cs = Float(scale, "GuidanceCombine");
        using var op = Enter("GuidanceCombine", uncond, cond, scale);
        bool f32 = cu.DType == DType.F32 && cc.DType == DType.F32;
        var y = New(cond.Shape, f32 ? DType.F32 : DType.BF16);
        ulong n = (ulong)y.ElementCount;
        if (n == 0)
            return y;
        if (f32)
            Elementwise("guidance_combine_map_f32", n, cu.Pointer, cc.Pointer, F32(cs).Pointer, y.Pointer, n, (ulong)inner);
        else
            Elementwise("guidance_combine_map_bf16", n, Bf16(cu).Pointer, Bf16(cc).Pointer, F32(cs).Pointer, y.Pointer, n, (ulong)inner);
        return y;
    }

    /// <summary>StepCache extrapolation fma(c, latest − previous, latest) in fp32; F32 when both are F32, otherwise BF16.</summary>
    public Tensor Extrapolate(Tensor latest, Tensor previous, float coefficient) => PairWithScalar("Extrapolate", "extrapolate", latest, previous, coefficient);

    /// <summary>
    /// Two same-shaped float tensors and an fp32 scalar through <c>{kernel}_f32</c> (both F32: F32 out) or
    /// <c>{kernel}_bf16</c> (otherwise: BF16 out); the kernels take (a, b, y, scalar, n).
    /// </summary>
    private Tensor PairWithScalar(string name, string kernel, Tensor a, Tensor b, float scalar)
    {
        RequireSameShape(a, b, name);
        var ca = Float(a, name);
        var cb = Float(b, name);
        using var op = Enter(name, a, b);
        bool f32 = ca.DType == DType.F32 && cb.DType == DType.F32;
        var y = New(b.Shape, f32 ? DType.F32 : DType.BF16);
        ulong n = (ulong)y.ElementCount;
        if (f32)
            Elementwise(kernel + "_f32", n, ca.Pointer, cb.Pointer, y.Pointer, scalar, n);
        else
            Elementwise(kernel + "_bf16", n, Bf16(ca).Pointer, Bf16(cb).Pointer, y.Pointer, scalar, n);
        return y;
    }

    /// <summary>latents += dt·velocity in fp32, in place; latents F32 (recommended: <see cref="Upload"/>) or BF16, velocity either.</summary>
    public void EulerStepInPlace(Tensor latents, Tensor velocity, float dt)
    {
        RequireSameShape(latents, velocity, "EulerStepInPlace");
        var cx = Float(latents, "EulerStepInPlace");
        var cv = Float(velocity, "EulerStepInPlace");
        using var op = Enter("EulerStepInPlace", latents, velocity);
        ulong n = (ulong)cx.ElementCount;
        string kernel = $"euler_step_{Suffix(cx.DType)}_{Suffix(cv.DType)}";
        Elementwise(kernel, n, cx.Pointer, cv.Pointer, dt, n);
    }

    /// <summary>Threads per block of both abs_difference kernels (ABS_DIFF_BLOCK in sampling.cu).</summary>
    private const int AbsDifferenceBlock = 256;

    /// <summary>Most blocks of the first abs_difference pass (a few waves on any GPU; the second pass reads one pair per block).</summary>
    private const uint AbsDifferenceMaxBlocks = 1024;

    /// <summary>
    /// Σ|a − b| and Σ|b| as a [2] F32 tensor, in two launches and no atomics: per-block fp64 partial sums, then one
    /// block adds them in a fixed order and rounds to fp32 (sampling.cu). The grid depends on the element count
    /// only, so reruns and graph replays give identical bits; against the CPU's fp64 sum in index order the result
    /// differs by at most one fp32 rounding. Nothing is read back: the caller downloads the pair when it decides.
    /// </summary>
    public Tensor AbsDifferenceSums(Tensor a, Tensor b)
    {
        RequireSameShape(a, b, "AbsDifferenceSums");
        var ca = Float(a, "AbsDifferenceSums");
        var cb = Float(b, "AbsDifferenceSums");
        using var op = Enter("AbsDifferenceSums", a, b);
        var sums = New(new Shape(2), DType.F32);
        ulong n = (ulong)cb.ElementCount;
        uint blocks = Math.Max(1u, LaunchConfig.GridStrideBlocks(n, AbsDifferenceBlock, AbsDifferenceMaxBlocks));
        // Two fp64 values per block, held in an F32 temporary of four elements per block.
        var partials = Temporary(new Shape(checked((int)blocks * 4)), DType.F32);
        if (n == 0)
            CudaDriver.MemsetD32Async(partials.Pointer, 0, 4, _stream, "AbsDifferenceSums");
        else if (ca.DType == DType.F32 && cb.DType == DType.F32)
            Launch("abs_difference_partials_f32", blocks, AbsDifferenceBlock, 0, ca.Pointer, cb.Pointer, partials.Pointer, n);
        else
            Launch("abs_difference_partials_bf16", blocks, AbsDifferenceBlock, 0, Bf16(ca).Pointer, Bf16(cb).Pointer, partials.Pointer, n);
        Launch("abs_difference_finish", 1, AbsDifferenceBlock, 0, partials.Pointer, blocks, sums.Pointer);
        return sums;
    }

    /// <summary>Number of NaN/±∞ elements (waits for the queued work).</summary>
    public unsafe int CountNonFinite(Tensor x)
    {
        var cx = Float(x, "CountNonFinite");
        using var op = Enter("CountNonFinite", x);
        ThrowIfCapturing($"CountNonFinite({x})", "reads a count back to the host (a host synchronisation)");
        var counter = ScratchSlot(ScratchCount);
        CudaDriver.MemsetD32Async(counter, 0, 1, _stream, "CountNonFinite");
        ulong n = (ulong)cx.ElementCount;
        Elementwise(cx.DType == DType.F32 ? "count_nonfinite_f32" : "count_nonfinite_bf16", n, cx.Pointer, n, counter);
        uint count;
        CudaDriver.MemcpyDtoHAsync(&count, counter, 4, _stream, "CountNonFinite");
        CudaDriver.StreamSynchronize(_stream, "CountNonFinite");
        CheckDeviceErrors();
        return (int)Math.Min(count, int.MaxValue);
    }

    private static string Suffix(DType dtype) => dtype == DType.F32 ? "f32" : "bf16";
}
