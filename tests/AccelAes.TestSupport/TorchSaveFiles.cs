using System.IO.Compression;
using System.Text;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.TestSupport;

/// <summary>
/// Builds torch.save-format checkpoints in the tests, without torch, for the malformed and hostile cases the Python
/// generator (make_torch_checkpoints.py) cannot produce through pickle.Pickler: the same zip layout
/// (<c>archive/data.pkl</c>, <c>archive/data/&lt;key&gt;</c>, stored uncompressed) around hand-written pickle opcodes.
/// They are torch.save-format files written without torch.
/// </summary>
public static class TorchSaveFiles
{
    public sealed record Storage(string Key, string Type, long Numel, byte[] Bytes);

    public sealed record TensorSpec(string Name, string StorageKey, long Offset, long[] Shape, long[] Strides);

    // torch's legacy storage class for each element type, as torch.save names it in persistent ids.
    private static readonly Dictionary<SafeTensorDType, string> StorageTypes = new()
    {
        [SafeTensorDType.F32] = "FloatStorage", [SafeTensorDType.F16] = "HalfStorage", [SafeTensorDType.BF16] = "BFloat16Storage",
        [SafeTensorDType.F64] = "DoubleStorage", [SafeTensorDType.I64] = "LongStorage", [SafeTensorDType.I32] = "IntStorage",
        [SafeTensorDType.I16] = "ShortStorage", [SafeTensorDType.I8] = "CharStorage", [SafeTensorDType.U8] = "ByteStorage",
        [SafeTensorDType.Bool] = "BoolStorage",
    };

    /// <summary>
    /// Rewrites a safetensors file as the pytorch_model.bin / diffusion_pytorch_model.bin torch.save would write from
    /// the same state dict: one storage per tensor, contiguous.
    /// </summary>
    public static void FromSafeTensors(string safetensorsPath, string torchPath)
    {
        using var set = SafeTensorsSet.OpenFile(safetensorsPath);
        var tensors = set.Tensors.OrderBy(t => t.Name, StringComparer.Ordinal).ToArray();
        var storages = tensors.Select((t, i) =>
            new Storage(i.ToString(), StorageTypes[t.DType], t.ElementCount, set.GetBytes(t).ToArray())).ToArray();
        var specs = tensors.Select((t, i) => new TensorSpec(t.Name, i.ToString(), 0, t.Shape.ToArray(), ContiguousStrides(t.Shape.ToArray()))).ToArray();
        File.WriteAllBytes(torchPath, Zip(StateDict(storages, specs), storages));
    }

    public static long[] ContiguousStrides(long[] shape)
    {
        var strides = new long[shape.Length];
        long step = 1;
        for (var i = shape.Length - 1; i >= 0; i--)
        {
            strides[i] = step;
            step *= shape[i];
        }
        return strides;
    }

    /// <summary>A zip with <c>archive/data.pkl</c> and one <c>archive/data/&lt;key&gt;</c> record per storage.</summary>
    public static byte[] Zip(byte[] pickle, IEnumerable<Storage> storages, bool compress = false)
    {
        using var buffer = new MemoryStream();
        using (var zip = new ZipArchive(buffer, ZipArchiveMode.Create, leaveOpen: true))
        {
            void Record(string name, byte[] data)
            {
                var entry = zip.CreateEntry("archive/" + name, compress ? CompressionLevel.Optimal : CompressionLevel.NoCompression);
                using var stream = entry.Open();
                stream.Write(data);
            }
            Record("data.pkl", pickle);
            Record("byteorder", "little"u8.ToArray());
            foreach (var storage in storages)
                Record("data/" + storage.Key, storage.Bytes);
            Record("version", "3\n"u8.ToArray());
        }
        return buffer.ToArray();
    }

    /// <summary>A state dict pickle as torch.save writes it (protocol 2, OrderedDict, _rebuild_tensor_v2, persistent ids).</summary>
    public static byte[] StateDict(IReadOnlyList<Storage> storages, params TensorSpec[] tensors) =>
        StateDict(storages, wrapperKey: null, tensors);

    /// <summary>As above; with <paramref name="wrapperKey"/>, nested as training checkpoints do: <c>{key: state_dict}</c>.</summary>
    public static byte[] StateDict(IReadOnlyList<Storage> storages, string? wrapperKey, params TensorSpec[] tensors)
    {
        var p = new PickleWriter().Proto(2);
        if (wrapperKey is not null)
            p.EmptyDict().Unicode(wrapperKey);
        p.Global("collections", "OrderedDict").EmptyTuple().Reduce().Mark();
        foreach (var tensor in tensors)
        {
            var storage = storages.Single(s => s.Key == tensor.StorageKey);
            p.Unicode(tensor.Name).RebuildTensor(storage, tensor);
        }
        p.SetItems();
        if (wrapperKey is not null)
            p.SetItem();
        return p.Stop().ToArray();
    }

    public static Storage Floats(string key, params float[] values) =>
        new(key, "FloatStorage", values.Length, values.SelectMany(BitConverter.GetBytes).ToArray());

    public static string Write(TempDirectory dir, string name, byte[] bytes)
    {
        var path = Path.Combine(dir.Path, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }
}

/// <summary>Writes pickle opcodes one by one (names as in CPython's Lib/pickle.py).</summary>
public sealed class PickleWriter
{
    private readonly MemoryStream _bytes = new();

    public PickleWriter Op(byte opcode) { _bytes.WriteByte(opcode); return this; }
    public PickleWriter Raw(byte[] bytes) { _bytes.Write(bytes); return this; }
    public PickleWriter Proto(byte version) => Op(0x80).Op(version);
    public PickleWriter Mark() => Op((byte)'(');
    public PickleWriter Tuple() => Op((byte)'t');
    public PickleWriter EmptyTuple() => Op((byte)')');
    public PickleWriter EmptyList() => Op((byte)']');
    public PickleWriter EmptyDict() => Op((byte)'}');
    public PickleWriter Append() => Op((byte)'a');
    public PickleWriter SetItems() => Op((byte)'u');
    public PickleWriter SetItem() => Op((byte)'s');
    public PickleWriter Reduce() => Op((byte)'R');
    public PickleWriter Build() => Op((byte)'b');
    public PickleWriter PersistentId() => Op((byte)'Q');
    public PickleWriter False() => Op(0x89);
    public PickleWriter None() => Op((byte)'N');
    public PickleWriter Stop() => Op((byte)'.');
    public PickleWriter Put(byte index) => Op((byte)'q').Op(index);
    public PickleWriter Get(byte index) => Op((byte)'h').Op(index);

    public PickleWriter Global(string module, string name) => Op((byte)'c').Raw(Encoding.UTF8.GetBytes($"{module}\n{name}\n"));

    public PickleWriter Unicode(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        return Op((byte)'X').Raw(BitConverter.GetBytes(bytes.Length)).Raw(bytes);
    }

    // LONG1 carries any 64-bit value (BININT would need a 32-bit one).
    public PickleWriter Int(long value) => Op(0x8a).Op(8).Raw(BitConverter.GetBytes(value));

    public PickleWriter Ints(IEnumerable<long> values)
    {
        foreach (var value in values)
            Int(value);
        return this;
    }

    /// <summary>torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()), as torch.Tensor reduces.</summary>
    public PickleWriter RebuildTensor(TorchSaveFiles.Storage storage, TorchSaveFiles.TensorSpec tensor) =>
        Global("torch._utils", "_rebuild_tensor_v2").Mark()
            .Mark().Unicode("storage").Global("torch", storage.Type).Unicode(storage.Key).Unicode("cpu").Int(storage.Numel).Tuple()
            .PersistentId()
            .Int(tensor.Offset).Mark().Ints(tensor.Shape).Tuple().Mark().Ints(tensor.Strides).Tuple()
            .False().Global("collections", "OrderedDict").EmptyTuple().Reduce().Tuple().Reduce();

    public byte[] ToArray() => _bytes.ToArray();
}
