using AccelAes.Engine.Backends;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.SafeTensors;
using AccelAes.TestSupport;

namespace AccelAes.Engine.Tests.WeightSources;

/// <summary>
/// A diffusers folder saved with layer-wise casting to fp8 (plain F8_E4M3 / F8_E5M2 tensors, no scales) loads: e4m3 Linear
/// weights reach the backend as codes (so they stay fp8 on the CUDA device), everything else as exactly decoded fp32.
/// </summary>
public class SafeTensorsFp8WeightSourceTests
{
    /// <summary>Records the op of every upload, then lets the CPU backend do it.</summary>
    private sealed class RecordingBackend(IBackend inner) : DelegatingBackend(inner, ownsInner: true)
    {
        public List<string> Ops { get; } = [];

        protected override T Call<T>(string op, Func<T> run)
        {
            Ops.Add(op);
            return run();
        }
    }

    // Every e4m3 byte but the two NaN codes (0x7F, 0xFF), walked so that neighbouring elements differ in sign and size.
    private static byte[] Codes(int count) =>
        Enumerable.Range(0, count).Select(i => (byte)(i * 37 % 256)).Select(b => b is 0x7F or 0xFF ? (byte)0x3C : b).ToArray();

    [Fact]
    public void Layerwise_cast_fp8_tensors_load_as_codes_for_linear_weights_and_decoded_values_otherwise()
    {
        using var dir = new TempDirectory();
        string path = Path.Combine(dir.Path, "diffusion_pytorch_model.safetensors");
        byte[] weight = Codes(6 * 8), bias = Codes(6).Reverse().ToArray(), norm = Codes(8);
        new SafeTensorsWriter()
            .Add("transformer_blocks.0.attn.to_q.weight", SafeTensorDType.F8E4M3, [6, 8], weight)
            .Add("transformer_blocks.0.attn.to_q.bias", SafeTensorDType.F8E5M2, [6], bias)
            .Add("transformer_blocks.0.attn.norm_q.weight", SafeTensorDType.F8E4M3, [8], norm)
            .Add("pos_embed.pos_embed", SafeTensorDType.I64, [2], new byte[16])
            .Save(path);
        using var set = SafeTensorsSet.OpenFile(path);
        var source = new SafeTensorsWeightSource(set, "layer-wise cast folder");
        using var backend = new RecordingBackend(new CpuBackend());

        var w = backend.Download(source.Load("transformer_blocks.0.attn.to_q.weight", new Shape(6, 8), backend));
        Assert.Equal(["UploadFp8Weight"], backend.Ops.Where(o => o.StartsWith("Upload", StringComparison.Ordinal)));
        Assert.Equal(DTypeConversion.ToFloat32(weight, SafeTensorDType.F8E4M3), w); // decode(code) · 1, bit for bit

        backend.Ops.Clear();
        var b = backend.Download(source.Load("transformer_blocks.0.attn.to_q.bias", new Shape(6), backend));
        var n = backend.Download(source.Load("transformer_blocks.0.attn.norm_q.weight", new Shape(8), backend));
        // A bias and a norm scale are not Linear weights: decoded values, uploaded as any weight.
        Assert.Equal(["UploadWeight", "UploadWeight"], backend.Ops.Where(o => o.StartsWith("Upload", StringComparison.Ordinal)));
        Assert.Equal(DTypeConversion.ToFloat32(bias, SafeTensorDType.F8E5M2), b);
        Assert.Equal(DTypeConversion.ToFloat32(norm, SafeTensorDType.F8E4M3), n);

        var e = Assert.Throws<WeightShapeException>(() => source.Load("pos_embed.pos_embed", new Shape(2), backend));
        Assert.Contains("'pos_embed.pos_embed'", e.Message);
        Assert.Contains("F8_E4M3", e.Message);
    }
}
