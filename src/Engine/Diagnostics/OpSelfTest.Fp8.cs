using System.Globalization;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Tensors;
using AccelAes.Kernels;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Engine.Diagnostics;

/// <summary>
/// The fp8 weight cases (issue 15): a weight kept on the device as e4m3 codes plus one fp32 scale per output row
/// (<see cref="IBackend.UploadFp8Weight"/>), read by every op as bf16(decode(code) · scale) — fp8.cu's
/// <c>dequantize_e4m3_rows_bf16</c> — or multiplied by cuBLASLt's FP8 GEMM on compute capability 8.9+.
/// </summary>
/// <remarks>
/// The CPU reference of the dequantise-path cases is the weight as the CUDA backend documents that it reads it, bf16 of
/// the exactly dequantised value (<see cref="Fp8Weight(IBackend, byte[], float[], Shape)"/>), so the cases hold the device to the bf16 rule of every other
/// op, and the pure dequantisations (no arithmetic after them) bit for bit (floor 0: the bound is 0). The FP8 GEMM has
/// its own rule, the README's: relative L2 ≤ 2⁻⁴ against the CPU on fp32 activations and the exactly dequantised weight
/// (the activations' rounding to e4m3 is beyond the bf16 rule); each of its results says which path the Linear took, and
/// whether cuBLASLt offered an FP8 algorithm is summed up by <see cref="CublasLtPathReport"/>.
/// </remarks>
public static partial class OpSelfTest
{
    /// <summary>The README's FP8 GEMM tolerance: relative L2 of a Linear's output against the CPU reference.</summary>
    public const double Fp8GemmRelativeL2Bound = 1.0 / 16;

    private static void AddFp8(List<OpCase> cases)
    {
        // The dequantisation alone: rows of 32 (the 16-byte vector path), of 40 (a 16-code group spans two rows, so two
        // scales), of 12 (the scalar path), and 312 codes (the vector path with a tail of 8). Every e4m3 code but NaN occurs.
        foreach (var (n, k) in new[] { (24, 32), (7, 40), (5, 12), (3, 104) })
            cases.Add(new OpCase
            {
                Op = "UploadFp8Weight", Description = $"codes{S(n, k)} + scales[{n}] → bf16 (dequantize_e4m3_rows_bf16), bit for bit",
                Inputs = [CodeInput("codes", n, k), ScaleInput("scales", n)], Floor = 0,
                Run = (be, t) =>
                {
                    using var w = Fp8Weight(be, t[0], t[1]);
                    return be.Scale(w, 1f); // exact: the dequantised bf16 values as they are
                },
            });
        // q / k / v joined at load (Concat on axis 0 keeps them fp8: codes after codes, scales after scales), then read.
        cases.Add(new OpCase
        {
            Op = "Concat[fp8 rows]", Description = "codes[5,40] [7,40] [3,40] axis 0 → bf16, bit for bit",
            Inputs = [CodeInput("c0", 5, 40), ScaleInput("s0", 5), CodeInput("c1", 7, 40), ScaleInput("s1", 7), CodeInput("c2", 3, 40), ScaleInput("s2", 3)],
            Floor = 0,
            Run = (be, t) =>
            {
                using var a = Fp8Weight(be, t[0], t[1]);
                using var b = Fp8Weight(be, t[2], t[3]);
                using var c = Fp8Weight(be, t[4], t[5]);
                using var joined = be.Concat(0, a, b, c);
                return be.Scale(joined, 1f);
            },
        });
        // A Linear the FP8 GEMM never takes (SiLU and exact GELU have no cuBLASLt FP8 epilogue here): dequantised to bf16,
        // then the bf16 GEMM, on every card — the bf16 rule, as the Linear cases. Weights quantised as --weights fp8 does.
        foreach (var (b, s, k, n, bias, act) in new[] { (2, 37, 40, 24, true, Activation.Silu), (1, 130, 96, 72, false, Activation.Gelu),
                     (1, 17, 20, 33, true, Activation.Silu) })
        {
            var inputs = new List<InputSpec> { new("x", [b, s, k]), WeightInput(n, k) };
            if (bias) inputs.Add(new("b", [n]));
            cases.Add(new OpCase
            {
                Op = "Linear[fp8 weight]", Description = $"x{S(b, s, k)} w{S(n, k)} e4m3{(bias ? " +b" : "")} {act} (dequantise path)",
                Inputs = inputs,
                Run = (be, t) =>
                {
                    using var w = QuantisedFp8Weight(be, t[1]);
                    return be.Linear(t[0], w, bias ? t[2] : null, act);
                },
            });
        }
        // The fused gated residual reads an fp8 weight dequantised (then cuBLASLt's alpha-vector epilogue or its fallback).
        cases.Add(new OpCase
        {
            Op = "LinearAddGatedInPlace[fp8 weight]", Description = "r[2,9,48] x[2,9,64] w[48,64] e4m3 +b gate (dequantise path)",
            Inputs = [new("r", [2, 9, 48], Magnitude: 2f), new("x", [2, 9, 64]), WeightInput(48, 64), new("b", [48]), new("g", [2, 48])],
            Run = (be, t) =>
            {
                using var w = QuantisedFp8Weight(be, t[2]);
                be.LinearAddGatedInPlace(t[0], t[1], w, t[3], t[4]);
                return t[0];
            },
        });
        // The FP8 GEMM (--fp8-gemm auto on 8.9+): K 64, 256, 512 keep the e4m3 operands' rows 16-byte aligned (cuBLASLt's
        // documented need); K 40 does not, so a real cuBLASLt may refuse it (the fallback then shows in the report).
        foreach (var (b, s, k, n, bias, act) in new[] { (2, 3, 64, 24, true, Activation.None), (1, 77, 256, 320, true, Activation.GeluTanh),
                     (2, 37, 40, 24, false, Activation.None), (1, 300, 512, 256, true, Activation.None), (2, 33, 256, 64, false, Activation.GeluTanh) })
        {
            string what = $"x{S(b, s, k)} w{S(n, k)} e4m3{(bias ? " +b" : "")} {act}";
            cases.Add(new OpCase
            {
                Op = "Linear[FP8 GEMM]", Description = $"{what}, rel L2 ≤ 2⁻⁴",
                Check = (device, cpu, seed) => CheckFp8Gemm("Linear[FP8 GEMM]", $"{what}, rel L2 ≤ 2⁻⁴", [b, s, k], n, bias, act, device, cpu, seed),
            });
        }
    }

    /// <summary>e4m3 codes as exact fp32 values: the first 256 elements every code in order, then random ones; never NaN (0x7F / 0xFF).</summary>
    private static InputSpec CodeInput(string name, int rows, int columns) => new(name, [rows, columns], InputKind.F32, Generate: (rng, count) =>
    {
        var codes = new float[count];
        for (int i = 0; i < count; i++)
        {
            int code = i < 256 ? i : rng.Next(256);
            codes[i] = (code & 0x7F) == 0x7F ? code - 1 : code;
        }
        return codes;
    });

    /// <summary>One scale per row over six octaves (2⁻¹³ … 2⁻³), row 1 zero (a row the quantiser found all zero).</summary>
    private static InputSpec ScaleInput(string name, int rows) => new(name, [rows], InputKind.F32, Generate: (rng, count) =>
    {
        var scales = new float[count];
        for (int r = 0; r < count; r++)
            scales[r] = r == 1 ? 0f : (float)(Math.Exp(rng.NextDouble() * 6 - 9) * (1 + rng.NextDouble()));
        return scales;
    });

    /// <summary>A weight's fp32 values (quantised to fp8 in the case, as <c>--weights fp8</c> quantises at load).</summary>
    private static InputSpec WeightInput(int n, int k) => new("w", [n, k], InputKind.F32, Magnitude: 2f / MathF.Sqrt(k));

    /// <summary>An fp8 weight from code and scale inputs (read back from the backend: they are exact fp32 values).</summary>
    private static Tensor Fp8Weight(IBackend be, Tensor codeValues, Tensor scales) =>
        Fp8Weight(be, be.Download(codeValues).Select(v => (byte)v).ToArray(), be.Download(scales), codeValues.Shape);

    /// <summary>An fp8 weight quantised per output row from a weight input's values (Float8Quantizer, the load path's quantiser).</summary>
    private static Tensor QuantisedFp8Weight(IBackend be, Tensor values)
    {
        var shape = values.Shape;
        var codes = new byte[shape.ElementCount];
        var scales = new float[shape[0]];
        if (!Float8Quantizer.QuantizeRows(be.Download(values), shape[1], codes, scales))
            throw new InvalidOperationException($"the self-test's weight {shape} holds a non-finite value");
        return Fp8Weight(be, codes, scales, shape);
    }

    /// <summary>
    /// The device keeps the weight as fp8 (<see cref="IBackend.UploadFp8Weight"/>: the path under test). The CPU reference
    /// gets what the CUDA backend documents every op reads: bf16(decode(code) · scale) — the CPU's own UploadFp8Weight would
    /// keep the exact fp32 value, which no bf16 op of the device sees.
    /// </summary>
    private static Tensor Fp8Weight(IBackend be, byte[] codes, float[] scales, Shape shape)
    {
        if (be is not CpuBackend)
            return be.UploadFp8Weight(codes, scales, shape);
        float[] values = Fp8WeightValues.Dequantise(codes, scales, shape);
        for (int i = 0; i < values.Length; i++)
            values[i] = BFloat16Bits.Round(values[i]);
        return be.Upload(values, shape);
    }

    /// <summary>
    /// The FP8 GEMM's rule: the device's Linear on bf16 activations and the fp8 weight against the CPU's on the same
    /// activations (fp32) and the exactly dequantised weight (the CPU's UploadFp8Weight), relative L2 ≤ 2⁻⁴. The result's
    /// case says which path the device took (its FP8 GEMM count before and after), so a fallback is visible per shape.
    /// </summary>
    private static OpCheckResult CheckFp8Gemm(string op, string what, int[] xShape, int n, bool withBias, Activation act, IBackend device, IBackend cpu,
        int seed)
    {
        var rng = new Random(seed);
        int k = xShape[^1];
        var xSpec = new InputSpec("x", xShape);
        float[] x = Draw(xSpec, rng).Select(BFloat16Bits.Round).ToArray();
        float[] weight = Draw(WeightInput(n, k), rng);
        float[] bias = Draw(new InputSpec("b", [n]), rng).Select(BFloat16Bits.Round).ToArray();
        var codes = new byte[n * k];
        var scales = new float[n];
        Float8Quantizer.QuantizeRows(weight, k, codes, scales);
        var shape = new Shape(xShape);
        var weightShape = new Shape(n, k);

        var created = new List<Tensor>();
        Tensor Keep(Tensor t)
        {
            created.Add(t);
            return t;
        }
        try
        {
            var cuda = device as CudaBackend;
            long before = cuda?.Fp8GemmCount ?? 0;
            var dx = Keep(device.UploadWeight(Bf16Bytes(x), DType.BF16, shape));
            var dw = Keep(device.UploadFp8Weight(codes, scales, weightShape));
            var db = withBias ? Keep(device.UploadWeight(Bf16Bytes(bias), DType.BF16, new Shape(n))) : null;
            var dy = Keep(device.Linear(dx, dw, db, act));
            float[] actual = device.Download(dy);
            string path = cuda is null ? ""
                : cuda.Fp8GemmCount > before ? ": ran as FP8 GEMM"
                : cuda.UsesFp8Gemm ? ": FP8 GEMM fell back, dequantised"
                : $": dequantised (FP8 GEMM not enabled on {cuda.Device.ComputeCapability})";

            var cx = Keep(cpu.Upload(x, shape));
            var cw = Keep(cpu.UploadFp8Weight(codes, scales, weightShape)); // the exact fp32 dequantisation
            var cb = withBias ? Keep(cpu.Upload(bias, new Shape(n))) : null;
            var cy = Keep(cpu.Linear(cx, cw, cb, act));
            float[] reference = cpu.Download(cy);

            double refMax = MaxAbs(reference);
            if (dy.Shape != cy.Shape)
                return new OpCheckResult(op, what + path, double.PositiveInfinity, Fp8GemmRelativeL2Bound, 0, refMax, false, seed,
                    $"device output shape {dy.Shape}, CPU {cy.Shape}");
            double error = RelativeL2Error(actual, reference);
            return new OpCheckResult(op, what + path, error, Fp8GemmRelativeL2Bound, 0, refMax, error <= Fp8GemmRelativeL2Bound, seed,
                double.IsFinite(error) ? null
                    : string.Create(CultureInfo.InvariantCulture, $"device output has {actual.Count(v => !float.IsFinite(v))} non-finite values"));
        }
        finally
        {
            foreach (var t in created) t.Dispose();
        }
    }

    /// <summary>‖a − reference‖₂ / ‖reference‖₂; ∞ when a value is not finite or the lengths differ.</summary>
    private static double RelativeL2Error(float[] a, float[] reference)
    {
        if (a.Length != reference.Length)
            return double.PositiveInfinity;
        double diff = 0, norm = 0;
        for (int i = 0; i < a.Length; i++)
        {
            if (!float.IsFinite(a[i]))
                return double.PositiveInfinity;
            double d = (double)a[i] - reference[i];
            diff += d * d;
            norm += (double)reference[i] * reference[i];
        }
        return norm == 0 ? (diff == 0 ? 0 : double.PositiveInfinity) : Math.Sqrt(diff / norm);
    }
}
