using AccelAes.Engine.Pipelines;

namespace AccelAes.Engine.Planning;

/// <summary>
/// Computes a <see cref="MemoryPlan"/>: per policy, the device bytes of each phase — encode (text encoders and their
/// activations), denoise (transformer, VAE, forward intermediates, SkipSparse caches, latents) and decode (VAE
/// activations) — and picks the first policy, in the order none, encoders, sequential, whose peak fits.
/// </summary>
public static class MemoryPlanner
{
    /// <summary>
    /// An allowance for what is on the device besides tensors: the CUDA context, cuBLASLt workspaces, NVRTC modules
    /// and pool fragmentation (an estimate: a CUDA context alone takes a few hundred MB).
    /// </summary>
    public const long RuntimeReserveBytes = 768L << 20;

    public static MemoryPlan Plan(MemoryPlanRequest request)
    {
        var plan = Compute(request);
        if (request.MemoryBytes is null) return plan;
        if (!plan.Fits) return plan with { Remedy = FindRemedy(request, p => p.Chosen is not null) };
        // A plan that needs a policy the runtime lacks: name the change that makes it fit under one it has.
        if (!plan.Policy.RuntimeSupports()) return plan with { RunnableRemedy = FindRemedy(request, p => p.Chosen?.RuntimeSupports() == true) };
        return plan;
    }

    private static MemoryPlan Compute(MemoryPlanRequest r)
    {
        var weights = r.Components.Select(c => (c, c.Bytes(r.Precision))).ToList();
        long encoders = Sum(r, ComponentRole.TextEncoder), transformer = Sum(r, ComponentRole.Transformer), vae = Sum(r, ComponentRole.Vae);
        var blocks = r.Components.FirstOrDefault(c => c.Blocks is not null)?.Blocks;
        long largestBlock = blocks?.LargestBlockBytes(r.Precision) ?? transformer;
        long streamed = blocks is null ? transformer : blocks.Rest.Bytes(r.Precision) + 2 * largestBlock;
        var act = ActivationEstimate.Estimate(r.Architecture.Config, r.Components, r.Width, r.Height, r.Architecture.PixelsPerToken,
            r.ForwardBatch, r.CacheBatch, r.SkipSparse, r.SparseFeedForward, r.StepGraphs);
        long all = encoders + transformer + vae;
        PolicyPeak[] policies =
        [
            new(ResidencyPolicy.None, all + act.Encode, all + act.Denoise, all + act.Decode, RuntimeReserveBytes),
            new(ResidencyPolicy.Encoders, encoders + act.Encode, transformer + vae + act.Denoise, transformer + vae + act.Decode, RuntimeReserveBytes),
            new(ResidencyPolicy.Sequential, encoders + act.Encode, streamed + vae + act.Denoise, streamed + vae + act.Decode, RuntimeReserveBytes),
        ];
        ResidencyPolicy? chosen = r.MemoryBytes is long limit ? policies.FirstOrDefault(p => p.PeakBytes <= limit)?.Policy : null;
        return new MemoryPlan(r, weights, largestBlock, act, policies, chosen, null);
    }

    private static long Sum(MemoryPlanRequest r, ComponentRole role) => r.Components.Where(c => c.Role == role).Sum(c => c.Bytes(r.Precision));

    /// <summary>
    /// The first single change, in order of what it costs the image, that makes the run fit: fp8 weights, two-pass
    /// CFG, then smaller sizes (each side halved, to the model's token unit, down to 256 px), then fp8 with the size.
    /// </summary>
    private static string? FindRemedy(MemoryPlanRequest r, Func<MemoryPlan, bool> accept)
    {
        var tries = new List<(string Flags, MemoryPlanRequest Request)>();
        if (r.Precision != WeightPrecision.Fp8) tries.Add(("--weights fp8", r with { Precision = WeightPrecision.Fp8 }));
        if (r.UsesCfg && r.BatchedCfg) tries.Add(($"--cfg-mode {GuidanceMode.TwoPass}", r with { BatchedCfg = false }));
        int unit = r.Architecture.PixelsPerToken;
        foreach (var precision in new[] { r.Precision, WeightPrecision.Fp8 }.Distinct())
        {
            int w = r.Width, h = r.Height;
            while (Math.Max(w, h) > 256)
            {
                w = Math.Max(unit, w / 2 / unit * unit);
                h = Math.Max(unit, h / 2 / unit * unit);
                string flags = (precision != r.Precision ? "--weights fp8 " : "") + $"--width {w} --height {h}";
                tries.Add((flags, r with { Width = w, Height = h, Precision = precision }));
            }
        }
        foreach (var (flags, request) in tries)
            if (Compute(request) is { Chosen: { } policy } plan && accept(plan))
                return $"{flags} (policy {policy.Name()}, peak {ByteSize.Gib(plan.PeakBytes)})";
        return null;
    }
}
