namespace AccelAes.Engine.Pipelines;

/// <summary>How classifier-free guidance evaluates its two branches. Results are identical; speed and memory differ.</summary>
public enum GuidanceMode
{
    /// <summary>One forward over [uncond, cond] stacked on the batch axis (what the diffusers pipelines do).</summary>
    Batched,
    /// <summary>Two forwards, half the activation memory.</summary>
    TwoPass,
}
