using System.Runtime.InteropServices;
using AccelAes.Engine.Tensors;
using AccelAes.Kernels;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

public sealed partial class CudaBackend
{
    /// <summary>
    /// An fp8 Linear weight kept as fp8 on the device (issue 15): the e4m3 codes (1 byte per element) and the fp32
    /// per-output-row scales in one buffer (<see cref="Fp8WeightLayout"/>), an <see cref="DType.F8E4M3"/> tensor. Ops
    /// read it through <see cref="DequantisedFp8"/>: bf16(decode(code) · scale), exactly what an F32 upload of the
    /// dequantised weight rounded to before, so the results are the same bits; only the resident bytes change.
    /// </summary>
    public Tensor UploadFp8Weight(ReadOnlySpan<byte> codes, ReadOnlySpan<float> scales, Shape shape)
    {
        Fp8WeightValues.Check(codes.Length, scales.Length, shape);
        using var op = Enter("UploadFp8Weight");
        ThrowIfCapturing($"UploadFp8Weight({shape})", "copies host memory");
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        var t = New(shape, DType.F8E4M3);
        _staging.Upload(codes, 1, t.Pointer, 1, null);
        _staging.Upload(MemoryMarshal.AsBytes(scales), 4, t.Pointer + Fp8WeightLayout.ScalesOffset(shape), 4, null);
        var u = WeightUploads;
        WeightUploads = new WeightUploadStatistics(u.Tensors + 1, u.SourceBytes + (ulong)codes.Length + 4UL * (ulong)scales.Length,
            u.DeviceBytes + t.ByteCount, u.Elapsed + System.Diagnostics.Stopwatch.GetElapsedTime(started));
        return t;
    }

    /// <summary>
    /// The bf16 weight an op computes with, in a temporary freed when the op returns: fp8.cu's
    /// <c>dequantize_e4m3_rows_bf16</c>, bf16(decode(code) · scale of its row), one fp32 product and one rounding per
    /// element (bit for bit <see cref="Fp8WeightValues.Dequantise"/> rounded as <c>convert_f32_to_bf16</c> rounds).
    /// </summary>
    internal CudaTensor DequantisedFp8(CudaTensor weight)
    {
        EnsureCurrent();
        var y = Temporary(weight.Shape, DType.BF16);
        if (weight.ElementCount == 0)
            return y;
        var codes = weight.Pointer;
        ulong count = (ulong)weight.ElementCount;
        Elementwise("dequantize_e4m3_rows_bf16", count, codes, codes + Fp8WeightLayout.ScalesOffset(weight.Shape), y.Pointer, count,
            (ulong)weight.Shape[1]);
        return y;
    }

    /// <summary>An fp8 weight's values on the host: bf16(decode(code) · scale), as every op reads them.</summary>
    private float[] DownloadFp8(CudaTensor t)
    {
        var bytes = new byte[t.ByteCount];
        if (t.Streamed is { } streamed)
            streamed.HostBytes.CopyTo(bytes);
        else
        {
            _staging.Download(t.Pointer, bytes);
            CheckDeviceErrors();
        }
        int count = t.ElementCount, rows = Fp8WeightLayout.Rows(t.Shape);
        var scales = MemoryMarshal.Cast<byte, float>(bytes.AsSpan((int)Fp8WeightLayout.ScalesOffset(t.Shape), 4 * rows));
        var values = Fp8WeightValues.Dequantise(bytes.AsSpan(0, count), scales, t.Shape);
        for (int i = 0; i < values.Length; i++)
            values[i] = BFloat16Bits.Round(values[i]);
        return values;
    }

    /// <summary>
    /// Row concatenation of fp8 weights (q / k / v joined at load, <see cref="Concat"/> on axis 0): the codes one after
    /// another, the scales one after another, so the joined weight is fp8 too, with each part's rows and scales.
    /// </summary>
    private CudaTensor ConcatFp8Rows(Shape shape, IReadOnlyList<CudaTensor> parts)
    {
        var y = New(shape, DType.F8E4M3);
        ulong codes = 0, scales = 0, scalesAt = Fp8WeightLayout.ScalesOffset(shape);
        foreach (var part in parts)
        {
            ulong partCodes = (ulong)part.ElementCount, partScales = 4UL * (ulong)part.Shape[0];
            var source = part.Pointer;
            if (partCodes > 0)
                CudaDriver.MemcpyDtoDAsync(y.Pointer + codes, source, partCodes, _stream, "Concat (fp8 codes)");
            if (partScales > 0)
                CudaDriver.MemcpyDtoDAsync(y.Pointer + scalesAt + scales, source + Fp8WeightLayout.ScalesOffset(part.Shape), partScales, _stream,
                    "Concat (fp8 scales)");
            codes += partCodes;
            scales += partScales;
        }
        return y;
    }
}
