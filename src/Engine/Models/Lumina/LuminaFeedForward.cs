using AccelAes.Engine.Models.Layers;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Models.Lumina;

/// <summary>
/// diffusers <c>LuminaFeedForward</c>, a SwiGLU without biases: <c>linear_2(SiLU(linear_1(x)) ⊙ linear_3(x))</c>.
/// linear_1 is the gate branch (w1), linear_3 the up branch (w3), linear_2 the down projection (w2).
/// </summary>
/// <remarks>
/// w1 and w3 are concatenated at load into one [2F, D] weight, so the two up-projections and the gating are one op,
/// <see cref="IBackend.LinearSwiGlu"/> (issue 16, Fusion 11): on CUDA one tensor-core GEMM of N = 2F whose epilogue writes
/// SiLU(gate) ⊙ up as [.., F] (no [.., 2F] output, no silu_mul pass), or where that kernel cannot serve (or
/// <c>--swiglu-gemm split</c>, or auto measured it slower) the GEMM of N = 2F and <see cref="IBackend.SiluMul"/>. Precision: the gate is rounded to bf16 by the GEMM before the SiLU, as diffusers' bf16 module does (its
/// <c>FP32SiLU</c> upcasts linear_1's bf16 output); the CPU reference computes the same fp32 values as before.
/// Concatenating rows keeps fp8's per-output-channel scales (<c>--weights fp8</c> quantises w1 and w3 before this).
/// </remarks>
public sealed class LuminaFeedForward
{
    private readonly LinearLayer _gateUp, _linear2;

    public LuminaFeedForward(WeightReader w, int dim, int innerDim)
    {
        var linear1 = LinearLayer.Load(w, "linear_1", dim, innerDim, bias: false);
        var linear3 = LinearLayer.Load(w, "linear_3", dim, innerDim, bias: false);
        _gateUp = LinearLayer.FromTensors(w.Backend.Concat(0, linear1.Weight, linear3.Weight), null);
        linear1.Weight.Dispose();
        linear3.Weight.Dispose();
        _linear2 = LinearLayer.Load(w, "linear_2", innerDim, dim, bias: false);
    }

    public Tensor Forward(Tensor x)
    {
        using var gated = x.Backend.LinearSwiGlu(x, _gateUp.Weight);
        return _linear2.Forward(gated);
    }
}
