namespace AccelAes.Kernels.Compilation;

/// <summary>
/// Known combinations of NVRTC version, target and option that crash the compiler (the process dies: no
/// status, no exception), and what the compiler does instead. Applied to every compile before NVRTC is
/// called, so even a process that cannot isolate compiles (<see cref="ChildProcessCompilation"/>) never
/// hits them.
/// </summary>
/// <remarks>
/// Measured here (Debian's libnvrtc11.2 = NVRTC 11.8): ptxas recurses without bound when assembling
/// pointwise.cu and sampling.cu for <c>sm_90</c> with <c>-lineinfo</c> (11 of 19 entry points), with an
/// 8 MB stack as with a 512 MB one — an infinite recursion, not a deep one, so a bigger stack does not help.
/// The same sources assemble without <c>-lineinfo</c>, for sm_80/86/89 with it, and compute_90 never runs
/// ptxas. So: on NVRTC &lt; 12 and a real sm_90+ target, <c>-lineinfo</c> is dropped (the kernels run the
/// same; Nsight only loses the source-line mapping).
/// </remarks>
public static class CompilerHazards
{
    /// <summary>The option list to give NVRTC, and a note for each option removed (empty when none).</summary>
    public static (IReadOnlyList<string> Options, IReadOnlyList<string> Notes) Apply(
        IReadOnlyList<string> options, GpuArchitecture architecture, int nvrtcMajor, string nvrtcVersion)
    {
        if (nvrtcMajor < 12 && !architecture.IsVirtual && architecture.Number >= 90 && options.Contains("-lineinfo"))
        {
            return (options.Where(o => o != "-lineinfo").ToArray(),
                [$"-lineinfo dropped: NVRTC {nvrtcVersion}'s ptxas crashes (unbounded recursion) assembling some kernels for {architecture} with it; Nsight will show SASS without source lines"]);
        }
        return (options, []);
    }
}
