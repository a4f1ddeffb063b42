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
    /// <summary>
    /// A quantised Linear weight [out, in]: fp8 e4m3 codes (torch.float8_e4m3fn), one byte per element, with one fp32
    /// scale per output row stored beside them (<see cref="IBackend.UploadFp8Weight"/>). Only the CUDA backend keeps
    /// weights in it; every op reads it as bf16(decode(code) · scale).
    /// </summary>
    F8E4M3,
}
