using System.Globalization;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Tensors;
using AccelAes.Kernels;

namespace AccelAes.Engine.Diagnostics;

/// <summary>One op check: the device's error, the bound it had to meet, and the numbers the bound came from.</summary>
/// <param name="Op">The op (IBackend method, or a named kernel cross-check such as "Attention[reference kernel]").</param>
/// <param name="Case">Shapes and parameters.</param>
/// <param name="MaxError">max |device − reference| (∞ when the device output holds NaN or has the wrong shape).</param>
/// <param name="Bound">2 · <paramref name="LowPrecisionError"/> + floor.</param>
/// <param name="LowPrecisionError">max |CPU op on bf16-rounded inputs, output rounded like the device's − reference|.</param>
/// <param name="ReferenceMax">max |reference| (the scale of the floor).</param>
/// <param name="Seed">Seed of this case's inputs (rerun with it to reproduce).</param>
public sealed record OpCheckResult(string Op, string Case, double MaxError, double Bound, double LowPrecisionError, double ReferenceMax,
    bool Passed, int Seed, string? Error = null)
{
    // A failure names its case seed: OpSelfTest.Run(case, device, cpu, seed) draws the same inputs again.
    public override string ToString() => Error is null
        ? string.Create(CultureInfo.InvariantCulture, $"{(Passed ? "ok  " : "FAIL")} {Op,-28} {Case,-60} err {MaxError:G3} ≤ {Bound:G3} (bf16 ref err {LowPrecisionError:G3}, |ref| {ReferenceMax:G3}){(Passed ? "" : $" seed {Seed}")}")
        : $"{(Passed ? "ok  " : "FAIL")} {Op,-28} {Case,-60} {Error}{(Passed ? "" : $" seed {Seed}")}";
}

/// <summary>How a case's input is made and uploaded.</summary>
public enum InputKind
{
    /// <summary>Random values; uploaded to the device as BF16 (UploadWeight of bf16 bytes), so the CPU's low-precision run rounds them.</summary>
    Bf16,
    /// <summary>Random values; uploaded with <see cref="IBackend.Upload"/> (fp32 on the CUDA backend), not rounded.</summary>
    F32,
    /// <summary>Row indices (I32) in [0, <see cref="InputSpec.Magnitude"/>).</summary>
    Indices,
    /// <summary>0/1 key mask (fp32 upload); about 30 % zeros, and the last batch item fully masked when the case says so.</summary>
    Mask,
}

/// <summary>One input of a case.</summary>
/// <param name="Generate">Custom values (overrides the random draw); gets the rng and the element count.</param>
/// <param name="RoundOnDevice">Whether the device computes with this input rounded to bf16 (default: Kind == Bf16).</param>
public sealed record InputSpec(string Name, int[] Shape, InputKind Kind = InputKind.Bf16, float Magnitude = 1f,
    Func<Random, int, float[]>? Generate = null, bool? RoundOnDevice = null)
{
    public bool Rounds => RoundOnDevice ?? Kind == InputKind.Bf16;
}

/// <summary>
/// One op test: inputs, the op as a function of any backend, and its tolerance floor. <see cref="Run"/> returns the
/// output tensor (for an in-place op, the updated input); <see cref="RunCount"/> is for ops that return a number.
/// A case with <see cref="ExpectsError"/> passes when both backends throw the same exception type and message.
/// </summary>
public sealed class OpCase
{
    public required string Op { get; init; }
    public required string Description { get; init; }
    public IReadOnlyList<InputSpec> Inputs { get; init; } = [];
    public Func<IBackend, Tensor[], Tensor>? Run { get; init; }
    public Func<IBackend, Tensor[], int>? RunCount { get; init; }
    public bool ExpectsError { get; init; }

    /// <summary>A case with a rule of its own (the FP8 GEMM's tolerance): runs the device and the CPU itself, with the seed.</summary>
    public Func<IBackend, IBackend, int, OpCheckResult>? Check { get; init; }

    /// <summary>Floor of the bound, relative to max(1, max |reference|).</summary>
    public double Floor { get; init; } = DefaultFloor;

    /// <summary>The floor of a case that sets none: fp32 library functions' ulp-level differences.</summary>
    public const double DefaultFloor = 1e-5;

    public override string ToString() => $"{Op} {Description}";
}

/// <summary>
/// The op harness of DESIGN.md §2/§4 (in the spirit of llama.cpp's test-backend-ops): every op of the op set on
/// a device backend against the CPU reference, on fresh random inputs (never zeros), with the device's new
/// tensors poisoned with NaN first (when it is a <see cref="CudaBackend"/>), so an element an op forgets to write fails.
/// </summary>
/// <remarks>
/// The rule (FlashAttention's test rule, DESIGN.md §4): with <c>ref</c> = the CPU op on the fp32 inputs and
/// <c>low</c> = the CPU op on the inputs rounded as the device stores them, its output rounded to bf16 when the
/// device's output is bf16, the device passes when max|device − ref| ≤ 2·max|low − ref| + floor·max(1, max|ref|).
/// The floor (1e-5 by default) absorbs ulp-level differences of fp32 library functions where the low-precision
/// error is zero (fp32 ops); attention cases add half a bf16 ulp of the largest output (2⁻⁹) because the fast
/// kernel, like FlashAttention, rounds the probabilities to bf16 before P·V, an error the reference does not
/// have. Used by the GPU tests and by <c>accelaes selftest</c>; returns results, never prints.
/// </remarks>
public static partial class OpSelfTest
{
    /// <summary>Runs every case (or those <paramref name="filter"/> accepts).</summary>
    /// <param name="seed">Base seed; null draws one (fresh inputs every run; each result records its own seed).</param>
    public static IReadOnlyList<OpCheckResult> RunAll(IBackend device, IBackend cpu, int? seed = null, Func<OpCase, bool>? filter = null,
        Action<OpCheckResult>? progress = null)
    {
        int baseSeed = seed ?? Random.Shared.Next();
        var results = new List<OpCheckResult>();
        int index = 0;
        foreach (var c in Cases())
        {
            index++;
            if (filter is not null && !filter(c))
                continue;
            var r = Run(c, device, cpu, unchecked(baseSeed + 7919 * index));
            results.Add(r);
            progress?.Invoke(r);
        }
        return results;
    }

    /// <summary>Runs one case with inputs drawn from <paramref name="seed"/>.</summary>
    public static OpCheckResult Run(OpCase c, IBackend device, IBackend cpu, int seed)
    {
        var rng = new Random(seed);
        var hostInputs = c.Inputs.Select(spec => Draw(spec, rng)).ToArray();
        var cuda = device as CudaBackend;
        bool poison = cuda?.PoisonNewTensors ?? false;
        bool sync = cuda?.SynchronizeEachOp ?? false;
        if (cuda is not null)
        {
            cuda.PoisonNewTensors = true;
            cuda.SynchronizeEachOp = true;
        }
        var created = new List<Tensor>();
        try
        {
            if (c.Check is not null)
                return c.Check(device, cpu, seed);
            if (c.ExpectsError)
                return CompareErrors(c, device, cpu, hostInputs, created, seed);
            if (c.RunCount is not null)
            {
                int expected = c.RunCount(cpu, Upload(cpu, c, hostInputs, rounded: false, created));
                int actual = c.RunCount(device, Upload(device, c, hostInputs, rounded: false, created, onDevice: true));
                return new OpCheckResult(c.Op, c.Description, Math.Abs(actual - expected), 0, 0, expected, actual == expected, seed,
                    actual == expected ? null : $"device counted {actual}, CPU {expected}");
            }

            float[] reference = RunAndDownload(cpu, c, hostInputs, rounded: false, created, out var refShape, out _);
            float[] low = RunAndDownload(cpu, c, hostInputs, rounded: true, created, out _, out _);
            float[] actualValues = RunAndDownload(device, c, hostInputs, rounded: false, created, out var devShape, out var devType, onDevice: true);
            if (devType == DType.BF16)
                for (int i = 0; i < low.Length; i++) low[i] = BFloat16Bits.Round(low[i]);
            double refMax = MaxAbs(reference);
            double floor = c.Floor * Math.Max(1.0, refMax);
            double lowErr = MaxDiff(low, reference);
            double bound = 2 * lowErr + floor;
            if (devShape != refShape)
                return new OpCheckResult(c.Op, c.Description, double.PositiveInfinity, bound, lowErr, refMax, false, seed,
                    $"device output shape {devShape}, CPU {refShape}");
            double err = MaxDiff(actualValues, reference);
            return new OpCheckResult(c.Op, c.Description, err, bound, lowErr, refMax, err <= bound, seed,
                double.IsFinite(err) ? null : $"device output has {actualValues.Count(v => !float.IsFinite(v))} non-finite values where the reference has {reference.Count(v => !float.IsFinite(v))} (unwritten elements stay NaN)");
        }
        catch (Exception e)
        {
            return new OpCheckResult(c.Op, c.Description, double.PositiveInfinity, 0, 0, 0, false, seed, $"{e.GetType().Name}: {e.Message}");
        }
        finally
        {
            foreach (var t in created) t.Dispose();
            if (cuda is not null)
            {
                cuda.PoisonNewTensors = poison;
                cuda.SynchronizeEachOp = sync;
            }
        }
    }

    private static OpCheckResult CompareErrors(OpCase c, IBackend device, IBackend cpu, float[][] host, List<Tensor> created, int seed)
    {
        Exception? expected = Catch(() => c.Run!(cpu, Upload(cpu, c, host, false, created)));
        Exception? actual = Catch(() => c.Run!(device, Upload(device, c, host, false, created, onDevice: true)));
        string Describe(Exception? e) => e is null ? "no exception" : $"{e.GetType().Name}: {e.Message}";
        bool same = expected is not null && actual is not null && expected.GetType() == actual.GetType() && expected.Message == actual.Message;
        return new OpCheckResult(c.Op, c.Description, same ? 0 : 1, 0, 0, 0, same, seed,
            same ? null : $"CPU threw {Describe(expected)}; device threw {Describe(actual)}");

        Exception? Catch(Func<Tensor> f)
        {
            try
            {
                created.Add(f());
                return null;
            }
            catch (Exception e) when (e is ArgumentException or AccelAesException or InvalidOperationException)
            {
                return e;
            }
        }
    }

    private static float[] RunAndDownload(IBackend be, OpCase c, float[][] host, bool rounded, List<Tensor> created, out Shape shape, out DType dtype, bool onDevice = false)
    {
        var inputs = Upload(be, c, host, rounded, created, onDevice);
        var output = c.Run!(be, inputs);
        created.Add(output);
        shape = output.Shape;
        dtype = output.DType;
        return be.Download(output);
    }

    private static Tensor[] Upload(IBackend be, OpCase c, float[][] host, bool rounded, List<Tensor> created, bool onDevice = false)
    {
        var tensors = new Tensor[c.Inputs.Count];
        for (int i = 0; i < tensors.Length; i++)
        {
            var spec = c.Inputs[i];
            var shape = new Shape(spec.Shape);
            float[] values = host[i];
            tensors[i] = spec.Kind switch
            {
                InputKind.Indices => be.UploadIndices(values.Select(v => (int)v).ToArray(), shape),
                InputKind.Bf16 when onDevice => be.UploadWeight(Bf16Bytes(values), DType.BF16, shape),
                _ when rounded && spec.Rounds => be.Upload(values.Select(BFloat16Bits.Round).ToArray(), shape),
                _ => be.Upload(values, shape),
            };
            created.Add(tensors[i]);
        }
        return tensors;
    }

    private static byte[] Bf16Bytes(float[] values)
    {
        var bytes = new byte[values.Length * 2];
        for (int i = 0; i < values.Length; i++)
            BitConverter.TryWriteBytes(bytes.AsSpan(2 * i), BFloat16Bits.FromSingle(values[i]));
        return bytes;
    }

    private static float[] Draw(InputSpec spec, Random rng)
    {
        int n = new Shape(spec.Shape).ElementCount;
        if (spec.Generate is not null)
            return spec.Generate(rng, n);
        var values = new float[n];
        switch (spec.Kind)
        {
            case InputKind.Indices:
                for (int i = 0; i < n; i++) values[i] = rng.Next((int)spec.Magnitude);
                break;
            case InputKind.Mask:
                for (int i = 0; i < n; i++) values[i] = rng.NextDouble() < 0.3 ? 0f : 1f;
                break;
            default:
                // Never zero: |v| in [0.01, 1]·magnitude, random sign.
                for (int i = 0; i < n; i++)
                {
                    float u = (float)(0.01 + 0.99 * rng.NextDouble());
                    values[i] = (rng.Next(2) == 0 ? -u : u) * spec.Magnitude;
                }
                break;
        }
        return values;
    }

    private static double MaxAbs(float[] a)
    {
        double m = 0;
        foreach (float v in a)
            if (float.IsFinite(v)) m = Math.Max(m, Math.Abs(v));
        return m;
    }

    /// <summary>max |a − b|; a NaN on one side only, or a mismatch of infinities, counts as ∞ (equal infinities and NaN
    /// on both sides count as 0: an op that propagates NaN must do so where the reference does).</summary>
    private static double MaxDiff(float[] a, float[] b)
    {
        if (a.Length != b.Length)
            return double.PositiveInfinity;
        double m = 0;
        for (int i = 0; i < a.Length; i++)
        {
            if (a[i] == b[i] || (float.IsNaN(a[i]) && float.IsNaN(b[i]))) continue; // also equal infinities
            double d = Math.Abs((double)a[i] - b[i]);
            if (double.IsNaN(d) || double.IsInfinity(d)) return double.PositiveInfinity;
            m = Math.Max(m, d);
        }
        return m;
    }

    // ---- the cases ------------------------------------------------------------------------------

    private static string S(params int[] dims) => "[" + string.Join(",", dims) + "]";

    /// <summary>Every case, in a fixed order (several shapes per op, including sizes that are not multiples of any tile).</summary>
    public static IReadOnlyList<OpCase> Cases()
    {
        var cases = new List<OpCase>();
        AddLinear(cases);
        AddAttention(cases);
        AddColumnSlices(cases);
        AddAttentionAccumulate(cases);
        AddAttentionInputs(cases);
        AddAffinity(cases);
        AddNorms(cases);
        AddResidualPath(cases);
        AddPointwise(cases);
        AddEmbeddings(cases);
        AddLayout(cases);
        AddConvolution(cases);
        AddSampling(cases);
        AddAcceleration(cases);
        AddMemory(cases);
        AddErrors(cases);
        AddRowsGated(cases); // last: the earlier cases keep their seeds
        AddPreparedGates(cases); // after them, for the same reason
        AddPackedQkv(cases); // after the earlier cases: they keep their seeds
        AddPackedValue(cases); // after them, for the same reason
        AddQueryOnLoad(cases); // after them, for the same reason
        AddFp8(cases);
        AddSwiGlu(cases); // last: the earlier cases keep their seeds
        return cases;
    }

    private static void AddLinear(List<OpCase> cases)
    {
        var shapes = new (int B, int S, int K, int N)[] { (1, 1, 8, 8), (2, 37, 40, 24), (1, 130, 96, 72), (1, 17, 20, 33), (2, 300, 256, 320) };
        foreach (var (b, s, k, n) in shapes)
            foreach (bool withBias in new[] { true, false })
                foreach (var act in Enum.GetValues<Activation>())
                {
                    if (n == 320 && act is not (Activation.None or Activation.GeluTanh)) continue; // the big shape: the two epilogues
                    var inputs = new List<InputSpec> { new("x", [b, s, k]), new("w", [n, k], Magnitude: 1f / MathF.Sqrt(k) * 2) };
                    if (withBias) inputs.Add(new("b", [n]));
                    string d = $"x{S(b, s, k)} w{S(n, k)}{(withBias ? " +b" : "")} {act}";
                    cases.Add(new OpCase { Op = "Linear", Description = d, Inputs = inputs, Run = (be, t) => be.Linear(t[0], t[1], withBias ? t[2] : null, act) });
                    if (act is Activation.None or Activation.Silu && s > 1)
                        cases.Add(new OpCase
                        {
                            Op = "Linear[gemm.cu]", Description = d, Inputs = inputs,
                            Run = (be, t) => be is CudaBackend c ? c.LinearReference(t[0], t[1], withBias ? t[2] : null, act) : be.Linear(t[0], t[1], withBias ? t[2] : null, act),
                        });
                }
    }

    /// <summary>
    /// LinearInto and AttentionInto write a column slice of a destination that already holds values: the output is the
    /// whole destination, so the slice is checked against Linear/Attention and every other column against "unchanged".
    /// </summary>
    private static void AddColumnSlices(List<OpCase> cases)
    {
        // (rows B·S, K, N, columns before, columns after): a slice at the left edge, in the middle, at the right edge.
        foreach (var (b, s, k, n, before, after) in new[] { (1, 7, 16, 24, 0, 9), (2, 37, 40, 24, 13, 8), (1, 130, 96, 72, 40, 0) })
            foreach (var act in new[] { Activation.None, Activation.GeluTanh, Activation.Silu })
            {
                int width = before + n + after;
                var inputs = new List<InputSpec>
                {
                    new("x", [b, s, k]), new("w", [n, k], Magnitude: 1f / MathF.Sqrt(k) * 2), new("b", [n]), new("d", [b, s, width]),
                };
                cases.Add(new OpCase
                {
                    Op = "LinearInto", Description = $"x{S(b, s, k)} w{S(n, k)} +b {act} → d{S(b, s, width)} columns {before}…{before + n}",
                    Inputs = inputs, Run = (be, t) => { be.LinearInto(t[3], before, t[0], t[1], t[2], act); return t[3]; },
                });
            }
        // (B, S, Sk, H, D, columns before, columns after, mask): FLUX's single block writes attention at column 0.
        foreach (var (b, sq, sk, h, d, before, after, mask) in new[]
                 { (1, 20, 20, 2, 16, 0, 40, false), (2, 37, 45, 3, 64, 8, 5, true), (1, 70, 70, 2, 128, 0, 64, false), (1, 9, 13, 2, 256, 4, 4, false) })
        {
            int width = before + h * d + after;
            var inputs = new List<InputSpec>
            {
                new("q", [b, sq, h, d], Magnitude: 2f), new("k", [b, sk, h, d], Magnitude: 2f), new("v", [b, sk, h, d]), new("d", [b, sq, width]),
            };
            if (mask) inputs.Add(new("mask", [b, sk], InputKind.Mask));
            float scale = 1f / MathF.Sqrt(d);
            cases.Add(new OpCase
            {
                Op = "AttentionInto", Description = $"B{b} Sq{sq} Sk{sk} H{h} D{d}{(mask ? " mask" : "")} → d{S(b, sq, width)} columns {before}…{before + h * d}",
                Inputs = inputs, Floor = 1.0 / 512,
                Run = (be, t) => { be.AttentionInto(t[3], before, t[0], t[1], t[2], scale, mask ? t[4] : null); return t[3]; },
            });
        }
    }

    /// <summary>
    /// AttentionAddScaledInto: the destination (random, as Lumina's A_self) gains headScale[h] · attention; the output is
    /// the whole destination. Head scales of both signs (tanh of a gate), a fully masked batch item (adds nothing), the
    /// Lumina head dim (80 path), several key tiles, an element-wise head dim and the reference kernel's 256.
    /// </summary>
    private static void AddAttentionAccumulate(List<OpCase> cases)
    {
        foreach (var (b, sq, sk, h, d, mask) in new[]
                 { (2, 37, 45, 3, 72, true), (1, 150, 200, 2, 64, false), (1, 20, 30, 2, 20, true), (1, 9, 13, 2, 256, false) })
        {
            var inputs = new List<InputSpec>
            {
                new("q", [b, sq, h, d], Magnitude: 2f), new("k", [b, sk, h, d], Magnitude: 2f), new("v", [b, sk, h, d]),
                new("d", [b, sq, h, d]), new("s", [h], InputKind.F32),
            };
            if (mask)
                inputs.Add(new("mask", [b, sk], InputKind.Mask, Generate: (rng, n) =>
                {
                    var m = new float[n];
                    for (int i = 0; i < n; i++) m[i] = rng.NextDouble() < 0.3 ? 0f : 1f;
                    if (n / sk > 1) Array.Clear(m, n - sk, sk); // last batch item: every key masked
                    return m;
                }));
            float scale = 1f / MathF.Sqrt(d);
            cases.Add(new OpCase
            {
                Op = "AttentionAddScaledInto", Description = $"B{b} Sq{sq} Sk{sk} H{h} D{d}{(mask ? " mask" : "")} s[{h}] F32",
                Inputs = inputs, Floor = 1.0 / 512,
                Run = (be, t) => { be.AttentionAddScaledInto(t[3], t[4], t[0], t[1], t[2], scale, mask ? t[5] : null); return t[3]; },
            });
        }
    }

    private static void AddAttention(List<OpCase> cases)
    {
        // (B, Sq, Sk, Hq, Hkv, D, Dv, causal, mask, bias: 0 none / 3 [Hq,Sq,Sk] / 4 [B,Hq,Sq,Sk], scale: 0 → 1/√D)
        var shapes = new (int B, int Sq, int Sk, int Hq, int Hkv, int D, int Dv, bool Causal, bool Mask, int Bias, float Scale)[]
        {
            (1, 1, 1, 1, 1, 8, 8, false, false, 0, 0),
            (2, 37, 45, 4, 2, 16, 16, false, false, 0, 0),        // GQA 2, tails
            (1, 77, 77, 2, 2, 32, 32, true, false, 0, 0),         // causal, square
            (2, 65, 130, 2, 1, 64, 64, false, true, 0, 0),        // key mask, last batch item fully masked
            (1, 100, 64, 2, 2, 72, 72, false, false, 3, 0),       // Lumina head dim (80 path), bias [Hq,Sq,Sk]
            (2, 30, 40, 2, 2, 128, 128, false, false, 4, 0.3f),   // bias [B,Hq,Sq,Sk]
            (1, 129, 129, 1, 1, 80, 80, true, false, 0, 0),
            // Causal with Sq > Sk (rows that see no key) is not here: CpuBackend.Attention indexes row[j] with a negative j
            // there and throws; CudaBackendTests checks those rows against the CPU on the visible part instead.
            (1, 40, 60, 1, 1, 32, 32, true, false, 0, 0),         // causal with Sk > Sq: offset 20
            (1, 20, 50, 2, 2, 20, 20, false, false, 0, 0),        // D % 8 != 0: element-wise tile loads
            (1, 10, 12, 2, 2, 24, 40, false, true, 0, 0),         // D ≠ Dv
            (1, 300, 300, 2, 2, 64, 64, true, true, 0, 0),        // several query and key tiles, causal + mask
            (1, 256, 513, 4, 1, 128, 128, false, false, 0, 0),    // GQA 4, key tail of 1
            (1, 33, 17, 2, 2, 256, 256, false, true, 0, 0),       // head dim 256: reference kernel
            (1, 19, 23, 3, 3, 100, 100, true, false, 3, 1.0f),    // 81..128 → the 128 path, causal + bias
        };
        foreach (var sh in shapes)
        {
            var inputs = new List<InputSpec>
            {
                new("q", [sh.B, sh.Sq, sh.Hq, sh.D], Magnitude: 2f),
                new("k", [sh.B, sh.Sk, sh.Hkv, sh.D], Magnitude: 2f),
                new("v", [sh.B, sh.Sk, sh.Hkv, sh.Dv]),
            };
            int maskIndex = -1, biasIndex = -1;
            if (sh.Mask)
            {
                maskIndex = inputs.Count;
                int sk = sh.Sk;
                inputs.Add(new("mask", [sh.B, sh.Sk], InputKind.Mask, Generate: (rng, n) =>
                {
                    var m = new float[n];
                    for (int i = 0; i < n; i++) m[i] = rng.NextDouble() < 0.3 ? 0f : 1f;
                    if (n / sk > 1) Array.Clear(m, n - sk, sk); // last batch item: every key masked
                    return m;
                }));
            }
            if (sh.Bias != 0)
            {
                biasIndex = inputs.Count;
                inputs.Add(new("bias", sh.Bias == 3 ? [sh.Hq, sh.Sq, sh.Sk] : [sh.B, sh.Hq, sh.Sq, sh.Sk]));
            }
            float scale = sh.Scale != 0 ? sh.Scale : 1f / MathF.Sqrt(sh.D);
            string d = $"B{sh.B} Sq{sh.Sq} Sk{sh.Sk} H{sh.Hq}/{sh.Hkv} D{sh.D}/{sh.Dv}{(sh.Causal ? " causal" : "")}{(sh.Mask ? " mask" : "")}{(sh.Bias != 0 ? $" bias{sh.Bias}d" : "")}";
            Tensor? M(Tensor[] t) => maskIndex < 0 ? null : t[maskIndex];
            Tensor? Bi(Tensor[] t) => biasIndex < 0 ? null : t[biasIndex];
            bool causal = sh.Causal;
            cases.Add(new OpCase { Op = "Attention", Description = d, Inputs = inputs, Floor = 1.0 / 512,
                Run = (be, t) => be.Attention(t[0], t[1], t[2], scale, M(t), causal, Bi(t)) });
            // The reference kernel on the shapes it serves (D > 128) and on the smaller ones (it is slow, by design).
            if (sh.D <= 128 && (long)sh.B * sh.Sq * sh.Hq * sh.Sk > 60_000) continue;
            cases.Add(new OpCase { Op = "Attention[reference kernel]", Description = d, Inputs = inputs, Floor = 1.0 / 512,
                Run = (be, t) => be is CudaBackend c ? c.AttentionReference(t[0], t[1], t[2], scale, M(t), causal, Bi(t)) : be.Attention(t[0], t[1], t[2], scale, M(t), causal, Bi(t)) });
        }
    }

    private static void AddAffinity(List<OpCase> cases)
    {
        foreach (var (b, sq, sk, hq, hkv, d, mask) in new[] { (2, 70, 90, 4, 2, 64, true), (1, 33, 77, 2, 2, 16, false), (1, 20, 30, 2, 1, 72, true), (1, 9, 13, 2, 2, 256, false) })
        {
            var inputs = new List<InputSpec>
            {
                new("q", [b, sq, hq, d], Magnitude: 2f), new("k", [b, sk, hkv, d], Magnitude: 2f), new("v", [b, sk, hkv, d]),
                new("w", [b, sk], InputKind.F32),
            };
            if (mask) inputs.Add(new("mask", [b, sk], InputKind.Mask));
            float scale = 1f / MathF.Sqrt(d);
            string desc = $"B{b} Sq{sq} Sk{sk} H{hq}/{hkv} D{d}{(mask ? " mask" : "")}";
            Tensor? M(Tensor[] t) => mask ? t[4] : null;
            cases.Add(new OpCase { Op = "AttentionWithAffinity", Description = desc + " → output", Inputs = inputs, Floor = 1.0 / 512,
                Run = (be, t) => be.AttentionWithAffinity(t[0], t[1], t[2], scale, t[3], M(t)).Output });
            cases.Add(new OpCase { Op = "AttentionWithAffinity", Description = desc + " → affinity", Inputs = inputs,
                Run = (be, t) => be.AttentionWithAffinity(t[0], t[1], t[2], scale, t[3], M(t)).Affinity });
            if ((long)b * sq * hq * sk <= 60_000)
                cases.Add(new OpCase { Op = "AttentionWithAffinity[reference kernel]", Description = desc + " → affinity", Inputs = inputs,
                    Run = (be, t) => be is CudaBackend c ? c.AttentionWithAffinityReference(t[0], t[1], t[2], scale, t[3], M(t)).Affinity
                        : be.AttentionWithAffinity(t[0], t[1], t[2], scale, t[3], M(t)).Affinity });
        }
    }

    private static void AddAcceleration(List<OpCase> cases)
    {
        float[] Distinct(Random rng, int n, int rows) => Enumerable.Range(0, rows).OrderBy(_ => rng.Next()).Take(n).Select(i => (float)i).ToArray();
        cases.Add(new OpCase { Op = "ScatterRowsInPlace", Description = "destination[10,24] ← source[4,24]",
            Inputs = [new("dst", [10, 24]), new("idx", [4], InputKind.Indices, Generate: (rng, n) => Distinct(rng, n, 10)), new("src", [4, 24])],
            Run = (be, t) => { be.ScatterRowsInPlace(t[0], t[1], t[2]); return t[0]; } });
        cases.Add(new OpCase { Op = "ScatterRowsInPlace", Description = "destination[300,72] F32 ← source[123,72] bf16",
            Inputs = [new("dst", [300, 72], InputKind.F32), new("idx", [123], InputKind.Indices, Generate: (rng, n) => Distinct(rng, n, 300)), new("src", [123, 72])],
            Run = (be, t) => { be.ScatterRowsInPlace(t[0], t[1], t[2]); return t[0]; } });
        cases.Add(new OpCase { Op = "Copy", Description = "[3,5]", Inputs = [new("x", [3, 5])], Run = (be, t) => be.Copy(t[0]) });
        cases.Add(new OpCase { Op = "Copy", Description = "[2,4,8,8] F32", Inputs = [new("x", [2, 4, 8, 8], InputKind.F32)], Run = (be, t) => be.Copy(t[0]) });
        cases.Add(new OpCase { Op = "Copy", Description = "indices [9]", Inputs = [new("i", [9], InputKind.Indices, 100)], Run = (be, t) => be.Copy(t[0]) });
        cases.Add(new OpCase { Op = "GuidanceCombine(map)", Description = "[2,4,6,8] scale map [6,8] F32",
            Inputs = [new("u", [2, 4, 6, 8]), new("c", [2, 4, 6, 8]), new("s", [6, 8], InputKind.F32, Magnitude: 7f)],
            Run = (be, t) => be.GuidanceCombine(t[0], t[1], t[2]) });
        cases.Add(new OpCase { Op = "GuidanceCombine(map)", Description = "[1,3,5,5] F32, scale map [3,5,5] bf16",
            Inputs = [new("u", [1, 3, 5, 5], InputKind.F32), new("c", [1, 3, 5, 5], InputKind.F32), new("s", [3, 5, 5], Magnitude: 5f)],
            Run = (be, t) => be.GuidanceCombine(t[0], t[1], t[2]) });
        cases.Add(new OpCase { Op = "Extrapolate", Description = "[2,4,8,8] c 0.5", Inputs = [new("a", [2, 4, 8, 8]), new("b", [2, 4, 8, 8])],
            Run = (be, t) => be.Extrapolate(t[0], t[1], 0.5f) });
        cases.Add(new OpCase { Op = "Extrapolate", Description = "[300] F32 c −1.3", Inputs = [new("a", [300], InputKind.F32), new("b", [300], InputKind.F32)],
            Run = (be, t) => be.Extrapolate(t[0], t[1], -1.3f) });
        // TeaCache's distance sums: element counts off the block size; the second one needs more than 256 blocks,
        // so the finishing pass loops over the partials.
        cases.Add(new OpCase { Op = "AbsDifferenceSums", Description = "[3,7,45]", Inputs = [new("a", [3, 7, 45]), new("b", [3, 7, 45])],
            Run = (be, t) => be.AbsDifferenceSums(t[0], t[1]) });
        cases.Add(new OpCase { Op = "AbsDifferenceSums", Description = "[2,1000,33] F32",
            Inputs = [new("a", [2, 1000, 33], InputKind.F32), new("b", [2, 1000, 33], InputKind.F32, Magnitude: 3f)],
            Run = (be, t) => be.AbsDifferenceSums(t[0], t[1]) });
    }

    private static void AddNorms(List<OpCase> cases)
    {
        foreach (var (shape, affine) in new (int[], int)[] { ([3, 7, 40], 2), ([2, 5, 1536], 2), ([4, 4100], 1), ([1, 3, 8], 0), ([2, 9, 33], 2) })
        {
            int d = shape[^1];
            var inputs = new List<InputSpec> { new("x", shape, Magnitude: 3f) };
            if (affine >= 1) inputs.Add(new("w", [d]));
            if (affine >= 2) inputs.Add(new("b", [d]));
            cases.Add(new OpCase { Op = "LayerNorm", Description = $"x{S(shape)} {(affine == 2 ? "w+b" : affine == 1 ? "w" : "plain")}", Inputs = inputs,
                Run = (be, t) => be.LayerNorm(t[0], 1e-6f, affine >= 1 ? t[1] : null, affine >= 2 ? t[2] : null) });
        }
        foreach (var (shape, weighted) in new (int[], bool)[] { ([3, 5, 64], true), ([2, 2, 4, 72], false), ([2, 3, 30], true), ([1, 2, 4096], true) })
        {
            var inputs = new List<InputSpec> { new("x", shape, Magnitude: 3f) };
            if (weighted) inputs.Add(new("w", [shape[^1]]));
            cases.Add(new OpCase { Op = "RmsNorm", Description = $"x{S(shape)}{(weighted ? " w" : "")}", Inputs = inputs,
                Run = (be, t) => be.RmsNorm(t[0], 1e-6f, weighted ? t[1] : null) });
        }
        foreach (var (shape, groups) in new (int[], int)[] { ([2, 8, 5, 6], 4), ([1, 32, 16, 16], 32), ([2, 12, 7], 3), ([1, 64, 33, 31], 32) })
            cases.Add(new OpCase { Op = "GroupNorm", Description = $"x{S(shape)} groups {groups}",
                Inputs = [new("x", shape, Magnitude: 2f), new("w", [shape[1]]), new("b", [shape[1]])],
                Run = (be, t) => be.GroupNorm(t[0], groups, 1e-5f, t[1], t[2]) });
        foreach (var (sc, sh) in new[] { (true, true), (true, false), (false, true), (false, false) })
        {
            var inputs = new List<InputSpec> { new("x", [2, 9, 24], Magnitude: 2f) };
            if (sc) inputs.Add(new("scale", [2, 24]));
            if (sh) inputs.Add(new("shift", [2, 24]));
            cases.Add(new OpCase { Op = "Modulate", Description = $"x[2,9,24]{(sc ? " scale" : "")}{(sh ? " shift" : "")}", Inputs = inputs,
                Run = (be, t) => be.Modulate(t[0], sc ? t[1] : null, sh ? t[sc ? 2 : 1] : null) });
        }
        // LayerNormModulate: the vector path (D % 8 == 0, FLUX/SD3 widths), the scalar one, with and without either vector.
        foreach (var (shape, sc, sh) in new[] { (new[] { 2, 9, 24 }, true, true), (new[] { 1, 33, 3072 }, true, true), (new[] { 2, 5, 20 }, true, false),
                     (new[] { 3, 4, 16 }, false, true), (new[] { 1, 7, 13 }, false, false) })
        {
            int b = shape[0], d = shape[2];
            var inputs = new List<InputSpec> { new("x", shape, Magnitude: 3f) };
            if (sc) inputs.Add(new("scale", [b, d]));
            if (sh) inputs.Add(new("shift", [b, d]));
            cases.Add(new OpCase { Op = "LayerNormModulate", Description = $"x{S(shape)}{(sc ? " scale" : "")}{(sh ? " shift" : "")}", Inputs = inputs,
                Run = (be, t) => be.LayerNormModulate(t[0], 1e-6f, sc ? t[1] : null, sh ? t[sc ? 2 : 1] : null) });
        }
        // RmsNormModulate: Lumina's shape (scale only, weight), the scalar path, every vector optional.
        foreach (var (shape, w, sc, sh) in new[] { (new[] { 2, 9, 24 }, true, true, false), (new[] { 1, 33, 2304 }, true, true, false),
                     (new[] { 2, 5, 20 }, false, true, true), (new[] { 1, 7, 13 }, true, false, false) })
        {
            int b = shape[0], d = shape[2];
            var inputs = new List<InputSpec> { new("x", shape, Magnitude: 3f) };
            int wi = -1, si = -1, hi = -1;
            if (w) { wi = inputs.Count; inputs.Add(new("w", [d])); }
            if (sc) { si = inputs.Count; inputs.Add(new("scale", [b, d])); }
            if (sh) { hi = inputs.Count; inputs.Add(new("shift", [b, d])); }
            cases.Add(new OpCase { Op = "RmsNormModulate", Description = $"x{S(shape)}{(w ? " w" : "")}{(sc ? " scale" : "")}{(sh ? " shift" : "")}", Inputs = inputs,
                Run = (be, t) => be.RmsNormModulate(t[0], 1e-5f, wi < 0 ? null : t[wi], si < 0 ? null : t[si], hi < 0 ? null : t[hi]) });
        }
        cases.Add(new OpCase { Op = "AddGatedInPlace", Description = "residual[2,9,24] gate", Inputs = [new("r", [2, 9, 24]), new("y", [2, 9, 24]), new("g", [2, 24])],
            Run = (be, t) => { be.AddGatedInPlace(t[0], t[1], t[2]); return t[0]; } });
        cases.Add(new OpCase { Op = "AddGatedInPlace", Description = "residual[3,5] no gate", Inputs = [new("r", [3, 5]), new("y", [3, 5])],
            Run = (be, t) => { be.AddGatedInPlace(t[0], t[1], null); return t[0]; } });
        cases.Add(new OpCase { Op = "AddGatedInPlace", Description = "residual[2,4,16] F32 gate", Inputs = [new("r", [2, 4, 16], InputKind.F32), new("y", [2, 4, 16]), new("g", [2, 16])],
            Run = (be, t) => { be.AddGatedInPlace(t[0], t[1], t[2]); return t[0]; } });
    }

    private static void AddPointwise(List<OpCase> cases)
    {
        foreach (var act in Enum.GetValues<Activation>())
        {
            cases.Add(new OpCase { Op = "Activate", Description = $"x[3,17,33] {act}", Inputs = [new("x", [3, 17, 33], Magnitude: 5f)], Run = (be, t) => be.Activate(t[0], act) });
            cases.Add(new OpCase { Op = "Activate", Description = $"x[257] F32 {act}", Inputs = [new("x", [257], InputKind.F32, Magnitude: 5f)], Run = (be, t) => be.Activate(t[0], act) });
        }
        float[] WithNaN(Random rng, int n)
        {
            var v = new float[n];
            for (int i = 0; i < n; i++) v[i] = (float)(rng.NextDouble() * 6 - 3);
            v[0] = float.NaN;
            v[n / 2] = -0f;
            return v;
        }
        cases.Add(new OpCase { Op = "Relu", Description = "x[3,17,33] with NaN and −0", Inputs = [new("x", [3, 17, 33], Generate: WithNaN)], Run = (be, t) => be.Relu(t[0]) });
        cases.Add(new OpCase { Op = "Relu", Description = "x[257] F32", Inputs = [new("x", [257], InputKind.F32, Magnitude: 3f)], Run = (be, t) => be.Relu(t[0]) });
        foreach (var (a, b) in new (int[], int[])[] { ([2, 3, 4, 5], [4, 5]), ([2, 3, 4, 5], [5]), ([7, 9], [7, 9]), ([1000], [1000]) })
        {
            cases.Add(new OpCase { Op = "Add", Description = $"a{S(a)} b{S(b)}", Inputs = [new("a", a), new("b", b)], Run = (be, t) => be.Add(t[0], t[1]) });
            cases.Add(new OpCase { Op = "Multiply", Description = $"a{S(a)} b{S(b)}", Inputs = [new("a", a), new("b", b)], Run = (be, t) => be.Multiply(t[0], t[1]) });
        }
        cases.Add(new OpCase { Op = "Add", Description = "a[4,6] F32 b[6] F32", Inputs = [new("a", [4, 6], InputKind.F32), new("b", [6], InputKind.F32)], Run = (be, t) => be.Add(t[0], t[1]) });
        cases.Add(new OpCase { Op = "Add", Description = "a[4,6] b[6] F32 (mixed)", Inputs = [new("a", [4, 6]), new("b", [6], InputKind.F32, RoundOnDevice: true)], Run = (be, t) => be.Add(t[0], t[1]) });
        // FFN-path fusions (issue 16): the 16-byte path (row widths multiples of 8), the scalar path (odd widths), an
        // F32 operand converted on entry, and Lumina's shapes (F = 6144 gate/up halves, 32 heads × 72 features).
        foreach (int[] shape in new[] { new[] { 2, 5, 48 }, new[] { 3, 14 }, new[] { 1, 9, 2 * 6144 } })
            cases.Add(new OpCase { Op = "SiluMul", Description = $"x{S(shape)}", Inputs = [new("x", shape, Magnitude: 4f)], Run = (be, t) => be.SiluMul(t[0]) });
        cases.Add(new OpCase { Op = "SiluMul", Description = "x[4,10] F32", Inputs = [new("x", [4, 10], InputKind.F32, Magnitude: 4f, RoundOnDevice: true)], Run = (be, t) => be.SiluMul(t[0]) });
        cases.Add(new OpCase { Op = "SiluMul", Description = "x[2,5] (odd width refused)", Inputs = [new("x", [2, 5])], ExpectsError = true, Run = (be, t) => be.SiluMul(t[0]) });
        foreach (var (a, s) in new (int[], int[])[] { ([2, 7, 4, 8], [4, 8]), ([3, 5, 7], [7]), ([2, 6, 32, 72], [32, 72]), ([9, 16], [9, 16]) })
            cases.Add(new OpCase { Op = "AddScaled", Description = $"a,b{S(a)} scale{S(s)}", Inputs = [new("a", a), new("b", a), new("scale", s)],
                Run = (be, t) => be.AddScaled(t[0], t[1], t[2]) });
        cases.Add(new OpCase { Op = "AddScaled", Description = "a,b[3,16] scale[16] F32", Inputs = [new("a", [3, 16]), new("b", [3, 16]), new("scale", [16], InputKind.F32, RoundOnDevice: true)],
            Run = (be, t) => be.AddScaled(t[0], t[1], t[2]) });
        cases.Add(new OpCase { Op = "Scale", Description = "x[1000] s=-1.7", Inputs = [new("x", [1000])], Run = (be, t) => be.Scale(t[0], -1.7f) });
        cases.Add(new OpCase { Op = "Scale", Description = "x[2,4,8,8] F32 s=1 (latent copy)", Inputs = [new("x", [2, 4, 8, 8], InputKind.F32)], Run = (be, t) => be.Scale(t[0], 1f) });
        foreach (int[] shape in new[] { new[] { 3, 7, 50 }, new[] { 2, 4097 }, new[] { 5, 1 } })
            cases.Add(new OpCase { Op = "Softmax", Description = $"x{S(shape)}", Inputs = [new("x", shape, Magnitude: 4f)], Run = (be, t) => be.Softmax(t[0]) });
        cases.Add(new OpCase
        {
            Op = "Softmax", Description = "x[4,40] with −∞ entries and a fully masked row",
            Inputs = [new("x", [4, 40], Generate: (rng, n) =>
            {
                var v = new float[n];
                for (int i = 0; i < n; i++) v[i] = rng.NextDouble() < 0.25 ? float.NegativeInfinity : (float)(rng.NextDouble() * 8 - 4);
                for (int i = 80; i < 120; i++) v[i] = float.NegativeInfinity;
                return v;
            })],
            Run = (be, t) => be.Softmax(t[0]),
        });
    }

    private static void AddEmbeddings(List<OpCase> cases)
    {
        foreach (var (d, pairs, pairing) in new[] { (16, 8, RotaryPairing.Adjacent), (16, 4, RotaryPairing.Adjacent), (16, 8, RotaryPairing.Halves), (18, 6, RotaryPairing.Halves), (128, 64, RotaryPairing.Adjacent) })
            foreach (var tables in new[] { InputKind.F32, InputKind.Bf16 })
            {
                int seq = 5;
                cases.Add(new OpCase
                {
                    Op = "Rotary", Description = $"x[2,{seq},3,{d}] P{pairs} {pairing} tables {tables}",
                    Inputs = [new("x", [2, seq, 3, d], Magnitude: 2f), new("cos", [seq, pairs], tables), new("sin", [seq, pairs], tables)],
                    Run = (be, t) => be.Rotary(t[0], t[1], t[2], pairing),
                });
            }
        float[] Timesteps(Random rng, int n) => new[] { 0.5f, 999f, 250.25f, 17f, 1000f, (float)(rng.NextDouble() * 1000) }[..n];
        foreach (var (dim, flip, shift, scale, period) in new[] { (256, true, 0f, 1f, 10000f), (320, false, 1f, 1f, 10000f), (33, true, 0f, 1000f, 10000f), (64, false, 0.5f, 1f, 1000f) })
            cases.Add(new OpCase
            {
                Op = "TimestepEmbedding", Description = $"t[6] dim {dim} flip {flip} shift {shift} scale {scale} period {period}",
                Inputs = [new("t", [6], InputKind.F32, Generate: Timesteps)],
                Run = (be, t) => be.TimestepEmbedding(t[0], dim, flip, shift, scale, period),
            });
    }

    private static void AddLayout(List<OpCase> cases)
    {
        cases.Add(new OpCase { Op = "GatherRows", Description = "table[10,24] idx[2,3]", Inputs = [new("table", [10, 24]), new("idx", [2, 3], InputKind.Indices, 10)], Run = (be, t) => be.GatherRows(t[0], t[1]) });
        cases.Add(new OpCase { Op = "GatherRows", Description = "table[50,7] F32 idx[40]", Inputs = [new("table", [50, 7], InputKind.F32), new("idx", [40], InputKind.Indices, 50)], Run = (be, t) => be.GatherRows(t[0], t[1]) });
        foreach (var (shapes, axis) in new (int[][], int)[]
                 {
                     ([[2, 3, 4], [2, 5, 4]], 1), ([[2, 3, 4], [1, 3, 4], [3, 3, 4]], 0), ([[2, 3, 4], [2, 3, 1]], -1), ([[1, 4096, 24], [1, 333, 24]], 1),
                 })
            cases.Add(new OpCase
            {
                Op = "Concat", Description = $"axis {axis}: {string.Join(" ", shapes.Select(s => S(s)))}",
                Inputs = shapes.Select((s, i) => new InputSpec($"p{i}", s)).ToArray(),
                Run = (be, t) => be.Concat(axis, t),
            });
        cases.Add(new OpCase { Op = "Concat", Description = "axis 0: F32 [1,4,8,8] twice (CFG latents)", Inputs = [new("a", [1, 4, 8, 8], InputKind.F32), new("b", [1, 4, 8, 8], InputKind.F32)], Run = (be, t) => be.Concat(0, t) });
        cases.Add(new OpCase { Op = "Concat", Description = "axis 1: mixed F32 + BF16", Inputs = [new("a", [2, 3], InputKind.F32, RoundOnDevice: true), new("b", [2, 5])], Run = (be, t) => be.Concat(1, t) });
        foreach (var (shape, axis, start, length) in new[] { (new[] { 4, 6, 5 }, 1, 2, 3), (new[] { 4, 6, 5 }, 0, 1, 2), (new[] { 4, 6, 5 }, -1, 1, 4), (new[] { 2, 4429, 24 }, 1, 4096, 333), (new[] { 3, 3 }, 0, 0, 3) })
            cases.Add(new OpCase { Op = "Slice", Description = $"x{S(shape)} axis {axis} [{start},{start + length})", Inputs = [new("x", shape)], Run = (be, t) => be.Slice(t[0], axis, start, length) });
        cases.Add(new OpCase { Op = "Slice", Description = "x[8,8,6] F32 axis 1 [2,5)", Inputs = [new("x", [8, 8, 6], InputKind.F32)], Run = (be, t) => be.Slice(t[0], 1, 2, 3) });
        foreach (int[] shape in new[] { new[] { 3, 33, 47 }, new[] { 70, 65 }, new[] { 2, 2, 1, 9 } })
            cases.Add(new OpCase { Op = "TransposeLast2", Description = $"x{S(shape)}", Inputs = [new("x", shape)], Run = (be, t) => be.TransposeLast2(t[0]) });
        cases.Add(new OpCase { Op = "TransposeLast2", Description = "x[5,40,3] F32", Inputs = [new("x", [5, 40, 3], InputKind.F32)], Run = (be, t) => be.TransposeLast2(t[0]) });
        foreach (var layout in Enum.GetValues<PatchLayout>())
            foreach (var (shape, p) in new[] { (new[] { 2, 4, 8, 6 }, 2), (new[] { 1, 3, 6, 9 }, 3), (new[] { 1, 2, 3, 3 }, 1) })
            {
                cases.Add(new OpCase { Op = "Patchify", Description = $"x{S(shape)} p{p} {layout}", Inputs = [new("x", shape)], Run = (be, t) => be.Patchify(t[0], p, layout) });
                int gh = shape[2] / p, gw = shape[3] / p, c = shape[1];
                cases.Add(new OpCase { Op = "Unpatchify", Description = $"tokens[{shape[0]},{gh * gw},{c * p * p}] p{p} {layout}",
                    Inputs = [new("tokens", [shape[0], gh * gw, c * p * p])], Run = (be, t) => be.Unpatchify(t[0], c, shape[2], shape[3], p, layout) });
            }
        cases.Add(new OpCase { Op = "Patchify", Description = "x[1,4,8,8] F32 p2 ChannelMajor (latents)", Inputs = [new("x", [1, 4, 8, 8], InputKind.F32)], Run = (be, t) => be.Patchify(t[0], 2, PatchLayout.ChannelMajor) });
    }

    private static void AddConvolution(List<OpCase> cases)
    {
        foreach (var (x, w, stride, pad, bias) in new[]
                 {
                     (new[] { 2, 3, 9, 11 }, new[] { 5, 3, 3, 3 }, 1, 1, true),
                     (new[] { 1, 4, 10, 10 }, new[] { 6, 4, 3, 3 }, 2, 0, false),
                     (new[] { 2, 8, 5, 5 }, new[] { 4, 8, 1, 1 }, 1, 0, true),
                     (new[] { 1, 3, 16, 16 }, new[] { 8, 3, 4, 4 }, 2, 1, true),
                     (new[] { 1, 16, 20, 20 }, new[] { 16, 16, 3, 3 }, 1, 1, true),
                 })
        {
            var inputs = new List<InputSpec> { new("x", x), new("w", w, Magnitude: 0.5f) };
            if (bias) inputs.Add(new("b", [w[0]]));
            cases.Add(new OpCase { Op = "Conv2d", Description = $"x{S(x)} w{S(w)} stride {stride} pad {pad}{(bias ? " +b" : "")}", Inputs = inputs,
                Run = (be, t) => be.Conv2d(t[0], t[1], bias ? t[2] : null, stride, pad) });
        }
        cases.Add(new OpCase { Op = "UpsampleNearest2x", Description = "x[2,3,5,7]", Inputs = [new("x", [2, 3, 5, 7])], Run = (be, t) => be.UpsampleNearest2x(t[0]) });
    }

    private static void AddSampling(List<OpCase> cases)
    {
        cases.Add(new OpCase { Op = "GuidanceCombine", Description = "[2,4,8,8] scale 4.5", Inputs = [new("u", [2, 4, 8, 8]), new("c", [2, 4, 8, 8])], Run = (be, t) => be.GuidanceCombine(t[0], t[1], 4.5f) });
        cases.Add(new OpCase { Op = "GuidanceCombine", Description = "[300] F32 scale 7", Inputs = [new("u", [300], InputKind.F32), new("c", [300], InputKind.F32)], Run = (be, t) => be.GuidanceCombine(t[0], t[1], 7f) });
        cases.Add(new OpCase { Op = "EulerStepInPlace", Description = "latents[2,4,8,8] F32, velocity bf16, dt −0.05",
            Inputs = [new("x", [2, 4, 8, 8], InputKind.F32), new("v", [2, 4, 8, 8])], Run = (be, t) => { be.EulerStepInPlace(t[0], t[1], -0.05f); return t[0]; } });
        cases.Add(new OpCase { Op = "EulerStepInPlace", Description = "latents[1,16,4,4] bf16, velocity bf16, dt −0.1",
            Inputs = [new("x", [1, 16, 4, 4]), new("v", [1, 16, 4, 4])], Run = (be, t) => { be.EulerStepInPlace(t[0], t[1], -0.1f); return t[0]; } });
        cases.Add(new OpCase { Op = "EulerStepInPlace", Description = "latents[64] F32, velocity F32, dt 0.03",
            Inputs = [new("x", [64], InputKind.F32), new("v", [64], InputKind.F32)], Run = (be, t) => { be.EulerStepInPlace(t[0], t[1], 0.03f); return t[0]; } });
        float[] WithNonFinite(Random rng, int n)
        {
            var v = new float[n];
            for (int i = 0; i < n; i++) v[i] = (float)(rng.NextDouble() * 2 - 1);
            float[] specials = [float.NaN, float.PositiveInfinity, float.NegativeInfinity];
            for (int j = 0; j < 7; j++) v[rng.Next(n)] = specials[j % 3];
            return v;
        }
        cases.Add(new OpCase { Op = "CountNonFinite", Description = "x[1000] bf16 with NaN/±∞", Inputs = [new("x", [1000], Generate: WithNonFinite)], RunCount = (be, t) => be.CountNonFinite(t[0]) });
        cases.Add(new OpCase { Op = "CountNonFinite", Description = "x[3,777] F32 with NaN/±∞", Inputs = [new("x", [3, 777], InputKind.F32, Generate: WithNonFinite)], RunCount = (be, t) => be.CountNonFinite(t[0]) });
        cases.Add(new OpCase { Op = "CountNonFinite", Description = "x[5000] finite", Inputs = [new("x", [5000])], RunCount = (be, t) => be.CountNonFinite(t[0]) });
    }

    private static void AddMemory(List<OpCase> cases)
    {
        var rng = new Random(12345);
        foreach (var source in new[] { DType.F32, DType.F16, DType.BF16 })
        {
            int[] shape = [37, 29];
            int n = 37 * 29;
            var bytes = new byte[n * (source == DType.F32 ? 4 : 2)];
            for (int i = 0; i < n; i++)
            {
                float v = (float)(rng.NextDouble() * 4 - 2);
                if (source == DType.F32) BitConverter.TryWriteBytes(bytes.AsSpan(4 * i), v);
                else if (source == DType.F16) BitConverter.TryWriteBytes(bytes.AsSpan(2 * i), (Half)v);
                else BitConverter.TryWriteBytes(bytes.AsSpan(2 * i), BFloat16Bits.FromSingle(v));
            }
            cases.Add(new OpCase { Op = "UploadWeight", Description = $"{source}{S(shape)} → Download", Run = (be, _) => be.UploadWeight(bytes, source, new Shape(shape)) });
        }
        cases.Add(new OpCase { Op = "Upload", Description = "[5,3] → Download (exact)", Inputs = [new("x", [5, 3], InputKind.F32)], Run = (_, t) => t[0] });
    }

    private static void AddErrors(List<OpCase> cases)
    {
        void E(string op, string d, InputSpec[] inputs, Func<IBackend, Tensor[], Tensor> run) =>
            cases.Add(new OpCase { Op = op + "[error]", Description = d, Inputs = inputs, Run = run, ExpectsError = true });
        E("Linear", "K mismatch", [new("x", [2, 5]), new("w", [3, 4])], (be, t) => be.Linear(t[0], t[1], null));
        E("Linear", "bias size", [new("x", [2, 4]), new("w", [3, 4]), new("b", [4])], (be, t) => be.Linear(t[0], t[1], t[2]));
        E("Attention", "GQA heads", [new("q", [1, 2, 3, 8]), new("k", [1, 2, 2, 8]), new("v", [1, 2, 2, 8])], (be, t) => be.Attention(t[0], t[1], t[2], 1f));
        E("Attention", "mask shape", [new("q", [1, 2, 2, 8]), new("k", [1, 3, 2, 8]), new("v", [1, 3, 2, 8]), new("m", [1, 2], InputKind.Mask)], (be, t) => be.Attention(t[0], t[1], t[2], 1f, t[3]));
        E("Attention", "bias shape", [new("q", [1, 2, 2, 8]), new("k", [1, 3, 2, 8]), new("v", [1, 3, 2, 8]), new("b", [2, 3, 2])], (be, t) => be.Attention(t[0], t[1], t[2], 1f, null, false, t[3]));
        E("Attention", "rank", [new("q", [2, 2, 8]), new("k", [1, 3, 2, 8]), new("v", [1, 3, 2, 8])], (be, t) => be.Attention(t[0], t[1], t[2], 1f));
        E("LayerNorm", "weight size", [new("x", [2, 6]), new("w", [5])], (be, t) => be.LayerNorm(t[0], 1e-5f, t[1]));
        E("GroupNorm", "groups", [new("x", [1, 6, 2, 2]), new("w", [6]), new("b", [6])], (be, t) => be.GroupNorm(t[0], 4, 1e-5f, t[1], t[2]));
        E("Modulate", "rank", [new("x", [2, 6])], (be, t) => be.Modulate(t[0], null, null));
        E("Modulate", "scale shape", [new("x", [2, 3, 6]), new("s", [1, 6])], (be, t) => be.Modulate(t[0], t[1], null));
        E("Rotary", "table too wide", [new("x", [1, 2, 1, 4]), new("c", [2, 3]), new("s", [2, 3])], (be, t) => be.Rotary(t[0], t[1], t[2]));
        E("Add", "not trailing", [new("a", [2, 3]), new("b", [2])], (be, t) => be.Add(t[0], t[1]));
        E("Slice", "out of range", [new("x", [4, 3])], (be, t) => be.Slice(t[0], 0, 3, 2));
        E("Concat", "mismatch", [new("a", [2, 3]), new("b", [3, 3])], (be, t) => be.Concat(1, t[0], t[1]));
        E("GatherRows", "index out of range", [new("table", [4, 3]), new("idx", [5], InputKind.Indices, Generate: (_, _) => [0, 1, 4, 2, 3])], (be, t) => be.GatherRows(t[0], t[1]));
        E("Patchify", "indivisible", [new("x", [1, 1, 5, 4])], (be, t) => be.Patchify(t[0], 2, PatchLayout.ChannelMajor));
        E("Unpatchify", "token count", [new("x", [1, 3, 4])], (be, t) => be.Unpatchify(t[0], 1, 4, 4, 2, PatchLayout.ChannelMinor));
        E("Conv2d", "channels", [new("x", [1, 3, 5, 5]), new("w", [2, 4, 3, 3])], (be, t) => be.Conv2d(t[0], t[1], null, 1, 1));
        E("TimestepEmbedding", "rank", [new("t", [2, 2], InputKind.F32)], (be, t) => be.TimestepEmbedding(t[0], 8, true, 0f));
        E("GuidanceCombine", "shapes", [new("u", [2, 3]), new("c", [3, 2])], (be, t) => be.GuidanceCombine(t[0], t[1], 2f));
        E("GuidanceCombine(map)", "map not trailing", [new("u", [2, 3]), new("c", [2, 3]), new("s", [2])], (be, t) => be.GuidanceCombine(t[0], t[1], t[2]));
        E("AttentionWithAffinity", "key weights shape", [new("q", [1, 2, 2, 8]), new("k", [1, 3, 2, 8]), new("v", [1, 3, 2, 8]), new("w", [1, 2], InputKind.F32)],
            (be, t) => be.AttentionWithAffinity(t[0], t[1], t[2], 1f, t[3]).Output);
        E("ScatterRowsInPlace", "index out of range", [new("d", [4, 3]), new("i", [2], InputKind.Indices, Generate: (_, _) => [1, 4]), new("s", [2, 3])],
            (be, t) => { be.ScatterRowsInPlace(t[0], t[1], t[2]); return t[0]; });
        E("ScatterRowsInPlace", "source shape", [new("d", [4, 3]), new("i", [2], InputKind.Indices, 4), new("s", [3, 3])],
            (be, t) => { be.ScatterRowsInPlace(t[0], t[1], t[2]); return t[0]; });
        E("Extrapolate", "shapes", [new("a", [2, 3]), new("b", [3, 2])], (be, t) => be.Extrapolate(t[0], t[1], 1f));
        E("AbsDifferenceSums", "shapes", [new("a", [2, 3]), new("b", [3, 2])], (be, t) => be.AbsDifferenceSums(t[0], t[1]));
    }
}
