namespace AccelAes.Engine.Tensors;

/// <summary>Element types a backend stores activations and weights in.</summary>
public enum DType
{
    /// <summary>IEEE binary32: the CPU reference backend stores everything in it.</summary>
    F32,
    /// <summary>IEEE binary16.</summary>
    F16,
    /// <summary>bfloat16: the CUDA backend's storage type (fp32 accumulation).</summary>
    BF16,
    /// <summary>32-bit signed integers: token ids and row indices, never activations.</summary>
    I32,
}
