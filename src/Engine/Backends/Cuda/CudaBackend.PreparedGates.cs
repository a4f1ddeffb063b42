using AccelAes.Engine.Tensors;
using AccelAes.Kernels.Interop;

namespace AccelAes.Engine.Backends.Cuda;

/// <summary>
/// A gate's cuBLASLt epilogue vectors made ahead of its projection (<see cref="CudaBackend.PrepareGates"/>): the fp32 alpha
/// vector [B, N] and, when the projection has a bias, the bf16 gate-scaled bias [B, N], at <paramref name="offset"/> elements
/// into buffers shared by the block's gates (kept alive by this object until the step's scope closes).
/// </summary>
internal sealed class CudaGateVectors(CudaTensor alpha, CudaTensor? scaledBias, ulong offset, bool hasBias, int batch, int n)
{
    public CuDevicePtr Alpha => alpha.Pointer + offset * 4;

    public CuDevicePtr ScaledBias => hasBias ? scaledBias!.Pointer + offset * 2 : default;

    public bool Fits(int gateBatch, int gateWidth) => gateBatch == batch && gateWidth == n;
}

/// <summary>Gates prepared once per block (issue 16, FLUX launches): one launch makes a block's epilogue vectors.</summary>
public sealed partial class CudaBackend
{
    /// <summary>Parts of one <c>gated_epilogue_vectors_x4</c> launch.</summary>
    private const int GatesPerLaunch = 4;

    /// <summary>
    /// With cuBLASLt: <c>gated_epilogue_vectors_x4</c> (residual.cu) makes the alpha vector and gated bias of up to four gates per
    /// launch, each part's vectors at a 256-byte-aligned offset of two shared buffers; the values are
    /// <c>gated_epilogue_vectors</c>' bit for bit. Without cuBLASLt (gemm.cu reads the gate and bias itself): nothing to make.
    /// </summary>
    public IReadOnlyList<PreparedGate> PrepareGates(IReadOnlyList<(Tensor Gate, Tensor? Bias)> gates)
    {
        PreparedGate.CheckGates(gates);
        foreach (var (gate, bias) in gates)
        {
            Float(gate, "PrepareGates");
            if (bias is not null) Float(bias, "PrepareGates");
        }
        if (_gemm is null)
            return gates.Select(g => new PreparedGate(this, g.Gate, g.Bias)).ToArray();
        using var op = Enter("PrepareGates", gates[0].Gate);
        int batch = gates[0].Gate.Shape[0], n = gates[0].Gate.Shape[1];
        ulong count = (ulong)batch * (ulong)n;
        ulong stride = (count + 127) / 128 * 128; // 256 bytes of bf16, 512 of fp32: every part's vectors stay aligned
        bool anyBias = gates.Any(g => g.Bias is not null);
        var alpha = New(new Shape(gates.Count * (int)stride), DType.F32);
        var scaledBias = anyBias ? New(new Shape(gates.Count * (int)stride), DType.BF16) : null;
        var prepared = new PreparedGate[gates.Count];
        for (int first = 0; first < gates.Count; first += GatesPerLaunch)
        {
            int parts = Math.Min(GatesPerLaunch, gates.Count - first);
            var g = new CuDevicePtr[GatesPerLaunch];
            var b = new CuDevicePtr[GatesPerLaunch];
            for (int p = 0; p < parts; p++)
            {
                var (gate, bias) = gates[first + p];
                g[p] = Bf16(Own(gate)).Pointer;
                b[p] = bias is null ? default : Bf16(Own(bias)).Pointer;
                prepared[first + p] = new PreparedGate(this, gate, bias,
                    new CudaGateVectors(alpha, scaledBias, (ulong)(first + p) * stride, bias is not null, batch, n));
            }
            if (count == 0) continue;
            Elementwise("gated_epilogue_vectors_x4", (ulong)parts * count, g[0], g[1], g[2], g[3], b[0], b[1], b[2], b[3],
                alpha.Pointer + (ulong)first * stride * 4, scaledBias is null ? default : scaledBias.Pointer + (ulong)first * stride * 2,
                parts, count, stride, n);
        }
        return prepared;
    }

    public void LinearAddPreparedGateInPlace(Tensor residual, Tensor x, Tensor weight, PreparedGate gate)
    {
        PreparedGate.CheckUse(gate, this, "LinearAddGatedInPlace");
        LinearAddGated(residual, x, weight, gate.Bias, gate.Gate, gate.State as CudaGateVectors);
    }

    public void LinearOfRowsAddPreparedGateInPlace(Tensor residual, Tensor x, int start, int count, Tensor weight, PreparedGate gate)
    {
        PreparedGate.CheckUse(gate, this, "LinearOfRowsAddGatedInPlace");
        LinearOfRowsAddGated(residual, x, start, count, weight, gate.Bias, gate.Gate, gate.State as CudaGateVectors);
    }

    /// <summary>
    /// The alpha vector and gated bias of a gate [B, N] for cuBLASLt's gated-residual epilogue: the prepared ones, or made now by
    /// <c>gated_epilogue_vectors</c> into temporaries of the current op.
    /// </summary>
    private (CuDevicePtr Alpha, CuDevicePtr ScaledBias) GateVectors(CudaTensor gate, CudaTensor? bias, int batch, int n, CudaGateVectors? prepared)
    {
        if (prepared is not null && prepared.Fits(batch, n))
            return (prepared.Alpha, prepared.ScaledBias);
        ulong count = (ulong)batch * (ulong)n;
        var alpha = Temporary(new Shape(batch, n), DType.F32);
        var scaledBias = bias is null ? null : Temporary(new Shape(batch, n), DType.BF16);
        Elementwise("gated_epilogue_vectors", count, gate.Pointer, PointerOf(bias), alpha.Pointer, PointerOf(scaledBias), count, n);
        return (alpha.Pointer, PointerOf(scaledBias));
    }
}
