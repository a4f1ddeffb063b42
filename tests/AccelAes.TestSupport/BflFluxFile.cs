using AccelAes.Loader.SafeTensors;

namespace AccelAes.TestSupport;

/// <summary>
/// Writes a synthetic FLUX.1 single file in Black Forest Labs' layout (F32, small random values) with chosen
/// dimensions, so tests can break one thing at a time: drop a key, change a shape, add a prefix.
/// </summary>
public sealed class BflFluxFile
{
    public int Width { get; init; } = 32;
    public int HeadDim { get; init; } = 16;
    public int InChannels { get; init; } = 16;
    public int TextDim { get; init; } = 32;
    public int PooledDim { get; init; } = 24;
    public int DoubleBlocks { get; init; } = 1;
    public int SingleBlocks { get; init; } = 1;
    public bool Guidance { get; init; } = true;
    public string Prefix { get; init; } = "";

    /// <summary>Every tensor name → shape, in BFL names without prefix.</summary>
    public SortedDictionary<string, long[]> Shapes()
    {
        long h = Width;
        var s = new SortedDictionary<string, long[]>(StringComparer.Ordinal);
        void Linear(string name, long outputs, long inputs) { s[name + ".weight"] = [outputs, inputs]; s[name + ".bias"] = [outputs]; }
        Linear("img_in", h, InChannels);
        Linear("txt_in", h, TextDim);
        Linear("time_in.in_layer", h, 256);
        Linear("time_in.out_layer", h, h);
        Linear("vector_in.in_layer", h, PooledDim);
        Linear("vector_in.out_layer", h, h);
        if (Guidance)
        {
            Linear("guidance_in.in_layer", h, 256);
            Linear("guidance_in.out_layer", h, h);
        }
        for (int i = 0; i < DoubleBlocks; i++)
            foreach (string side in new[] { "img", "txt" })
            {
                string b = $"double_blocks.{i}.{side}";
                Linear($"{b}_mod.lin", 6 * h, h);
                Linear($"{b}_attn.qkv", 3 * h, h);
                Linear($"{b}_attn.proj", h, h);
                Linear($"{b}_mlp.0", 4 * h, h);
                Linear($"{b}_mlp.2", h, 4 * h);
                s[$"{b}_attn.norm.query_norm.scale"] = [HeadDim];
                s[$"{b}_attn.norm.key_norm.scale"] = [HeadDim];
            }
        for (int i = 0; i < SingleBlocks; i++)
        {
            string b = $"single_blocks.{i}";
            Linear($"{b}.modulation.lin", 3 * h, h);
            Linear($"{b}.linear1", 7 * h, h);
            Linear($"{b}.linear2", h, 5 * h);
            s[$"{b}.norm.query_norm.scale"] = [HeadDim];
            s[$"{b}.norm.key_norm.scale"] = [HeadDim];
        }
        Linear("final_layer.linear", InChannels, h);
        Linear("final_layer.adaLN_modulation.1", 2 * h, h);
        return s;
    }

    /// <summary>Writes the file; <paramref name="edit"/> may remove or reshape entries first.</summary>
    public string Save(string path, Action<SortedDictionary<string, long[]>>? edit = null)
    {
        var shapes = Shapes();
        edit?.Invoke(shapes);
        var writer = new SafeTensorsWriter();
        var rng = new Random(7);
        foreach (var (name, shape) in shapes)
        {
            long count = shape.Aggregate(1L, (a, d) => a * d);
            var values = new float[count];
            for (int i = 0; i < values.Length; i++) values[i] = (float)(rng.NextDouble() - 0.5) * 0.2f;
            writer.Add(Prefix + name, shape, values);
        }
        writer.Save(path);
        return path;
    }
}
