using System.Text;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.TestSupport;

/// <summary>
/// Writes a checkpoint in ComfyUI's mixed-precision layout from a float one, by hand from the format's description
/// (ComfyUI QUANTIZATION.md): each chosen Linear <c>&lt;module&gt;</c> gets random codes of its format as
/// <c>&lt;module&gt;.weight</c>, a per-tensor float32 <c>weight_scale</c>, an <c>input_scale</c> and its config as
/// <c>&lt;module&gt;.comfy_quant</c> (the UTF-8 bytes of <c>{"format": ...}</c>, U8); the others stay as they are. The
/// reference file gets the same tensors with every quantised weight dequantised (decode(code) × scale in float32), so both
/// must load to the same values. A format other than float8 is written in nvfp4's shape (packed U8 codes, block scales).
/// </summary>
public static class ComfyQuantFileWriter
{
    /// <param name="formatOf">Module → its ComfyUI format ("float8_e4m3fn", "float8_e5m2", "nvfp4"), or null to keep it float.</param>
    public static void Write(string source, string quantised, string dequantised, Func<string, string?> formatOf, int seed = 5)
    {
        var mixed = new SafeTensorsWriter();
        var reference = new SafeTensorsWriter();
        var random = new Random(seed);
        using var set = SafeTensorsSet.OpenFile(source);
        foreach (var t in set.Tensors)
        {
            long[] shape = t.Shape.ToArray();
            float[] values = set.ReadAsFloat32(t.Name);
            string? format = t.Rank == 2 && t.Name.EndsWith(".weight", StringComparison.Ordinal) ? formatOf(t.Name[..^".weight".Length]) : null;
            if (format is null)
            {
                mixed.Add(t.Name, shape, values);
                reference.Add(t.Name, shape, values);
                continue;
            }
            string module = t.Name[..^".weight".Length];
            byte[] config = Encoding.UTF8.GetBytes($"{{\"format\": \"{format}\"}}");
            mixed.Add(module + ".comfy_quant", SafeTensorDType.U8, [config.Length], config);
            mixed.Add(module + ".input_scale", [], [0.5f + random.NextSingle()]);
            if (format is not ("float8_e4m3fn" or "float8_e5m2"))
            {
                mixed.Add(t.Name, SafeTensorDType.U8, [shape[0], shape[1] / 2], new byte[shape[0] * shape[1] / 2]);
                mixed.Add(module + ".weight_scale", [shape[0], shape[1] / 16], new float[shape[0] * shape[1] / 16]);
                mixed.Add(module + ".weight_scale_2", [], [1f]);
                reference.Add(t.Name, shape, values);
                continue;
            }
            var dtype = format == "float8_e4m3fn" ? SafeTensorDType.F8E4M3 : SafeTensorDType.F8E5M2;
            // Either sign, magnitudes below 2 in both formats (e4m3 exponent ≤ 7 of bias 7, e5m2 ≤ 15 of bias 15): no NaN / inf code.
            byte[] codes = Enumerable.Range(0, (int)t.ElementCount).Select(_ => (byte)(random.Next(0, 0x40) | (random.Next(2) << 7))).ToArray();
            float scale = 0.01f + 0.02f * random.NextSingle();
            float[] decoded = DTypeConversion.ToFloat32(codes, dtype);
            for (int i = 0; i < decoded.Length; i++) decoded[i] *= scale;
            mixed.Add(t.Name, dtype, shape, codes);
            mixed.Add(module + ".weight_scale", [], [scale]);
            reference.Add(t.Name, shape, decoded);
        }
        mixed.Save(quantised);
        reference.Save(dequantised);
    }
}
