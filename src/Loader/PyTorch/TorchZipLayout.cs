using System.Text;
using AccelAes.Loader.SafeTensors;
using AccelAes.Loader.Validation;

namespace AccelAes.Loader.PyTorch;

/// <summary>
/// The record layout <c>torch.save</c> writes into its zip (torch/serialization.py <c>_save</c>, pytorch/pytorch commit
/// 000a1a54cb9cfd97fc822c5ef8fe52901c780daa; caffe2/serialize/inline_container.cc, commit 02b040c187c2840f6eafc77d74f1e0c2fbc26b24):
/// every record sits under one folder, the archive name, which readers take from the first record's name;
/// <c>data.pkl</c> is the pickled object, whose persistent ids <c>('storage', torch.FloatStorage, key, location, numel)</c>
/// name the records <c>data/&lt;key&gt;</c> holding each storage's raw little-endian bytes; <c>byteorder</c> says
/// <c>little</c> (absent before PyTorch 1.9: little). Turns that into validated tensor infos with file offsets.
/// </summary>
internal static unsafe class TorchZipLayout
{
    internal static PyTorchTensorInfo[] Read(byte* file, long length, string path)
    {
        CheckSignature(file, length, path);
        var entries = ZipStoredEntries.Read(file, length, path);
        if (entries.Count == 0)
            throw new PyTorchCheckpointException(PyTorchCheckpointProblem.MissingRecord, path, "the zip archive is empty.");
        var slash = entries[0].Name.IndexOf('/');
        if (slash <= 0)
            throw new PyTorchCheckpointException(PyTorchCheckpointProblem.MissingRecord, path,
                $"the first record '{entries[0].Name}' is not inside an archive folder, as torch.save writes it.");
        var prefix = entries[0].Name[..(slash + 1)];
        var records = entries.Where(e => e.Name.StartsWith(prefix, StringComparison.Ordinal))
            .ToDictionary(e => e.Name[prefix.Length..], StringComparer.Ordinal);

        if (records.ContainsKey("constants.pkl") || records.Keys.Any(k => k.StartsWith("code/", StringComparison.Ordinal)))
            throw new PyTorchCheckpointException(PyTorchCheckpointProblem.Unsupported, path,
                "this is a TorchScript archive (torch.jit.save), not a torch.save state dict.");
        if (!records.TryGetValue("data.pkl", out var pickleRecord))
            throw new PyTorchCheckpointException(PyTorchCheckpointProblem.MissingRecord, path,
                $"the archive has no '{prefix}data.pkl' record; it is a zip file, but not one torch.save wrote.");
        if (records.TryGetValue("byteorder", out var byteOrder))
        {
            var order = Encoding.ASCII.GetString(new ReadOnlySpan<byte>(file + byteOrder.DataOffset, (int)Math.Min(byteOrder.Size, 16)));
            if (order != "little")
                throw new PyTorchCheckpointException(PyTorchCheckpointProblem.Unsupported, path,
                    $"the byteorder record says '{order}'; only little-endian checkpoints are read.");
        }
        if (pickleRecord.Size > InputLimits.MaxPickleBytes)
            throw new PyTorchCheckpointException(PyTorchCheckpointProblem.LimitExceeded, path,
                $"data.pkl has {pickleRecord.Size} bytes, more than the {InputLimits.MaxPickleBytes}-byte limit.");
        var pickle = new ReadOnlySpan<byte>(file + pickleRecord.DataOffset, (int)pickleRecord.Size).ToArray();

        var storages = new Dictionary<string, (TorchStorage Storage, ZipStoredEntry Record)>(StringComparer.Ordinal);
        var root = WeightsOnlyUnpickler.Load(pickle, path, id => LoadStorage(id, records, storages, path));
        var named = StateDictFinder.Find(root, path);

        var infos = new PyTorchTensorInfo[named.Count];
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < named.Count; i++)
        {
            var (name, tensor) = named[i];
            if (!names.Add(name))
                throw new PyTorchCheckpointException(PyTorchCheckpointProblem.InvalidTensor, path,
                    $"two tensors are named {SafeTensorsFormatException.QuoteForMessage(name)}.");
            infos[i] = Describe(name, tensor, storages[tensor.Storage.Key].Record, path);
        }
        return infos;
    }

    private static void CheckSignature(byte* file, long length, string path)
    {
        if (length >= 4 && new ReadOnlySpan<byte>(file, 4).SequenceEqual("PK\x03\x04"u8))
            return;
        if (length >= 2 && file[0] == 0x80 && file[1] <= 5)
            throw new PyTorchCheckpointException(PyTorchCheckpointProblem.LegacyFormat, path,
                "this is the legacy torch.save format of PyTorch before 1.6 (a bare pickle stream), which is not read. "
                + "Re-save it with a current PyTorch (torch.save(torch.load(f, weights_only=True), f2)) or as safetensors.");
        throw new PyTorchCheckpointException(PyTorchCheckpointProblem.InvalidZip, path,
            "the file is not a zip archive, as torch.save writes (it does not start with 'PK\\x03\\x04').");
    }

    // ('storage', storage_type, key, location, numel): the storage lives in record data/<key>.
    private static TorchStorage LoadStorage(PickleTuple id, Dictionary<string, ZipStoredEntry> records,
        Dictionary<string, (TorchStorage Storage, ZipStoredEntry Record)> storages, string path)
    {
        if (id.Count != 5 || id.Items[1] is not PickleGlobal { Kind: AllowedGlobal.StorageType, DType: { } dtype }
            || id.Items[2] is not string key || id.Items[3] is not string location || id.Items[4] is not long numel)
            throw Invalid(path, "a storage persistent id is not ('storage', <storage type>, key, location, numel).");
        if (storages.TryGetValue(key, out var known))
        {
            if (known.Storage.DType != dtype || known.Storage.Numel != numel)
                throw Invalid(path, $"storage '{key}' is named twice with different types or sizes.");
            return known.Storage;
        }
        if (!records.TryGetValue("data/" + key, out var record))
            throw new PyTorchCheckpointException(PyTorchCheckpointProblem.MissingRecord, path,
                $"the pickle refers to storage '{key}', but the archive has no record data/{key}.");
        if (numel < 0 || Math.BigMul(numel, dtype.ByteSize(), out var bytes) != 0 || bytes != record.Size)
            throw Invalid(path, $"storage '{key}' claims {numel} elements of {dtype.HeaderName()}, but its record has "
                + $"{record.Size} bytes.");
        var storage = new TorchStorage(key, dtype, location, numel);
        storages.Add(key, (storage, record));
        return storage;
    }

    private static PyTorchTensorInfo Describe(string name, TorchTensor tensor, ZipStoredEntry record, string path)
    {
        var shape = tensor.Shape;
        var quoted = SafeTensorsFormatException.QuoteForMessage(name);
        if (!SafeTensorInfo.TryCountElements(shape, out var count) || shape.Any(d => d < 0))
            throw Invalid(path, $"tensor {quoted} has shape [{string.Join(", ", shape)}], whose element count is negative or overflows.");
        var size = tensor.DType.ByteSize();
        if (count > 0 && !IsContiguous(shape, tensor.Strides))
            throw Invalid(path, $"tensor {quoted} has strides [{string.Join(", ", tensor.Strides)}] for shape "
                + $"[{string.Join(", ", shape)}]: it is not contiguous (a transposed or sliced view was saved). Tensors are "
                + "mapped from the file, not copied; save it with .contiguous().");
        var storageBytes = tensor.Storage.Numel * tensor.Storage.DType.ByteSize();
        if (tensor.StorageOffset < 0 || Math.BigMul(tensor.StorageOffset, size, out var start) != 0
            || Math.BigMul(count, size, out var length) != 0 || start > storageBytes || length > storageBytes - start)
            throw Invalid(path, $"tensor {quoted} ({count} elements of {tensor.DType.HeaderName()} from element "
                + $"{tensor.StorageOffset}) runs past the end of its storage '{tensor.Storage.Key}' ({storageBytes} bytes).");
        return new PyTorchTensorInfo(name, tensor.DType, shape, tensor.Strides, tensor.StorageOffset, tensor.Storage.Key, count,
            record.DataOffset + start);
    }

    // Row-major strides; dimensions of size 1 may carry any stride, as torch's is_contiguous allows.
    private static bool IsContiguous(long[] shape, long[] strides)
    {
        long expected = 1;
        for (var i = shape.Length - 1; i >= 0; i--)
        {
            if (shape[i] == 1)
                continue;
            if (strides[i] != expected)
                return false;
            expected *= shape[i];
        }
        return true;
    }

    private static PyTorchCheckpointException Invalid(string path, string detail) =>
        new(PyTorchCheckpointProblem.InvalidTensor, path, detail);
}
