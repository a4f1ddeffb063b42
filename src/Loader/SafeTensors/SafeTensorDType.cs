namespace AccelAes.Loader.SafeTensors;

/// <summary>
/// Element types of the safetensors format. Each member's header spelling is given by
/// <see cref="SafeTensorDTypes.HeaderName"/>; sub-byte types (F4, F6_*) are not supported and parse as unknown.
/// </summary>
public enum SafeTensorDType
{
    /// <summary>Boolean, one byte per element (0 or 1). Header name <c>BOOL</c>.</summary>
    Bool,
    /// <summary>Unsigned 8-bit integer.</summary>
    U8,
    /// <summary>Signed 8-bit integer.</summary>
    I8,
    /// <summary>8-bit float, 5 exponent and 2 mantissa bits (torch.float8_e5m2); decodes exactly to float32.</summary>
    F8E5M2,
    /// <summary>8-bit float, 4 exponent and 3 mantissa bits (torch.float8_e4m3fn: no infinities, max 448); decodes exactly to float32.</summary>
    F8E4M3,
    /// <summary>8-bit exponent-only scale type (MX formats). Readable as raw bytes only.</summary>
    F8E8M0,
    /// <summary>Signed 16-bit integer.</summary>
    I16,
    /// <summary>Unsigned 16-bit integer.</summary>
    U16,
    /// <summary>IEEE 754 half precision.</summary>
    F16,
    /// <summary>bfloat16: the upper 16 bits of an IEEE 754 single.</summary>
    BF16,
    /// <summary>Signed 32-bit integer.</summary>
    I32,
    /// <summary>Unsigned 32-bit integer.</summary>
    U32,
    /// <summary>IEEE 754 single precision.</summary>
    F32,
    /// <summary>Complex number of two F32 (real, imaginary). Readable as raw bytes only.</summary>
    C64,
    /// <summary>IEEE 754 double precision.</summary>
    F64,
    /// <summary>Signed 64-bit integer.</summary>
    I64,
    /// <summary>Unsigned 64-bit integer.</summary>
    U64,
}

/// <summary>Header spelling and element size of <see cref="SafeTensorDType"/>.</summary>
public static class SafeTensorDTypes
{
    private static readonly SafeTensorDType[] All = Enum.GetValues<SafeTensorDType>();

    /// <summary>Every supported dtype, in declaration order.</summary>
    public static IReadOnlyList<SafeTensorDType> Supported => All;

    /// <summary>Bytes per element.</summary>
    public static int ByteSize(this SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.Bool or SafeTensorDType.U8 or SafeTensorDType.I8
            or SafeTensorDType.F8E5M2 or SafeTensorDType.F8E4M3 or SafeTensorDType.F8E8M0 => 1,
        SafeTensorDType.I16 or SafeTensorDType.U16 or SafeTensorDType.F16 or SafeTensorDType.BF16 => 2,
        SafeTensorDType.I32 or SafeTensorDType.U32 or SafeTensorDType.F32 => 4,
        SafeTensorDType.C64 or SafeTensorDType.F64 or SafeTensorDType.I64 or SafeTensorDType.U64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Not a safetensors dtype."),
    };

    /// <summary>The dtype's spelling in a safetensors header, e.g. <c>BF16</c>, <c>F8_E4M3</c>.</summary>
    public static string HeaderName(this SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.Bool => "BOOL",
        SafeTensorDType.U8 => "U8",
        SafeTensorDType.I8 => "I8",
        SafeTensorDType.F8E5M2 => "F8_E5M2",
        SafeTensorDType.F8E4M3 => "F8_E4M3",
        SafeTensorDType.F8E8M0 => "F8_E8M0",
        SafeTensorDType.I16 => "I16",
        SafeTensorDType.U16 => "U16",
        SafeTensorDType.F16 => "F16",
        SafeTensorDType.BF16 => "BF16",
        SafeTensorDType.I32 => "I32",
        SafeTensorDType.U32 => "U32",
        SafeTensorDType.F32 => "F32",
        SafeTensorDType.C64 => "C64",
        SafeTensorDType.F64 => "F64",
        SafeTensorDType.I64 => "I64",
        SafeTensorDType.U64 => "U64",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Not a safetensors dtype."),
    };

    /// <summary>
    /// Parses a header dtype string. Matching is exact and case-sensitive, as in the reference implementation.
    /// </summary>
    public static bool TryParse(string? headerName, out SafeTensorDType dtype)
    {
        foreach (var candidate in All)
        {
            if (string.Equals(candidate.HeaderName(), headerName, StringComparison.Ordinal))
            {
                dtype = candidate;
                return true;
            }
        }
        dtype = default;
        return false;
    }
}
