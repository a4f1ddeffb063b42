namespace AccelAes.Engine.Tensors;

/// <summary>Pointwise activations, usable alone or fused into <see cref="IBackend.Linear"/>.</summary>
public enum Activation
{
    None,
    /// <summary>x·sigmoid(x).</summary>
    Silu,
    /// <summary>0.5·x·(1+tanh(√(2/π)·(x+0.044715x³))) — diffusers "gelu-approximate", T5 "gelu_new", Gemma "gelu_pytorch_tanh".</summary>
    GeluTanh,
    /// <summary>0.5·x·(1+erf(x/√2)) — exact GELU (CLIP-G "gelu").</summary>
    Gelu,
    /// <summary>x·sigmoid(1.702·x) — CLIP-L "quick_gelu".</summary>
    QuickGelu,
    /// <summary>tanh(x) — Lumina's residual and cross-attention gates.</summary>
    Tanh,
}
