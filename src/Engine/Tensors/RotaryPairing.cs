namespace AccelAes.Engine.Tensors;

/// <summary>Which features a rotary embedding rotates together.</summary>
public enum RotaryPairing
{
    /// <summary>(x₂ᵢ, x₂ᵢ₊₁): diffusers' FLUX (<c>repeat_interleave_real</c>) and Lumina (complex view of adjacent pairs).</summary>
    Adjacent,
    /// <summary>(xᵢ, x_{i+D/2}): HuggingFace <c>rotate_half</c> (Gemma, Llama).</summary>
    Halves,
}
