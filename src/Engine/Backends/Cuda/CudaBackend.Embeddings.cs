using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cuda;

public sealed partial class CudaBackend
{
    /// <summary>RoPE; the tables are read in their own type (F32 preferred: exact, see rotary.cu).</summary>
    public Tensor Rotary(Tensor x, Tensor cos, Tensor sin, RotaryPairing pairing = RotaryPairing.Adjacent)
    {
        RequireRank(x, 4, "Rotary", "x");
        int batch = x.Shape[0], seq = x.Shape[1], heads = x.Shape[2], d = x.Shape[3];
        RequireRank(cos, 2, "Rotary", "cos");
        RequireSameShape(cos, sin, "Rotary");
        int pairs = cos.Shape[1];
        if (cos.Shape[0] != seq || 2 * pairs > d)
            throw new ArgumentException($"Rotary: table {cos.Shape} does not fit x {x.Shape} (needs [{seq}, ≤{d / 2}]).");
        var cx = Float(x, "Rotary");
        var cc = Float(cos, "Rotary");
        var cs = Float(sin, "Rotary");
        using var op = Enter("Rotary", x, cos, sin);
        var y = New(x.Shape, DType.BF16);
        ulong n = (ulong)x.ElementCount;
        bool f32Tables = cc.DType == DType.F32 || cs.DType == DType.F32;
        if (f32Tables)
            Elementwise("rotary_bf16_f32table", n, Bf16(cx).Pointer, F32(cc).Pointer, F32(cs).Pointer, y.Pointer, n, seq, heads, d, pairs, (int)pairing);
        else
            Elementwise("rotary_bf16", n, Bf16(cx).Pointer, cc.Pointer, cs.Pointer, y.Pointer, n, seq, heads, d, pairs, (int)pairing);
        return y;
    }

    /// <summary>diffusers get_timestep_embedding, fp32 arithmetic step by step like the CPU reference; t is read as fp32.</summary>
    public Tensor TimestepEmbedding(Tensor t, int dim, bool flipSinToCos, float downscaleFreqShift, float scale = 1f, float maxPeriod = 10000f)
    {
        if (t.Shape.Rank != 1) throw new ArgumentException($"TimestepEmbedding: timesteps {t.Shape} must be 1-D.");
        var ct = Float(t, "TimestepEmbedding");
        using var op = Enter("TimestepEmbedding", t);
        int batch = t.Shape[0], half = dim / 2;
        var y = New(new Shape(batch, dim), DType.BF16);
        // The two host-side constants exactly as CpuBackend.TimestepEmbedding forms them.
        float logPeriod = (float)-Math.Log(maxPeriod);
        float denominator = half - downscaleFreqShift;
        ulong n = (ulong)batch * (ulong)dim;
        Elementwise("timestep_embedding_f32", n, F32(ct).Pointer, y.Pointer, batch, dim, logPeriod, denominator, scale, flipSinToCos);
        return y;
    }
}
