using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.PyTorch;

// The objects the restricted unpickler builds. Plain pickle values map to .NET ones (null, bool, long,
// BigInteger, double, string, byte[], List<object?> for lists); the types below cover the rest. Nothing here can
// run code: a pickled "call" only ever selects one of the fixed constructions in WeightsOnlyUnpickler.

/// <summary>A Python tuple.</summary>
internal sealed record PickleTuple(object?[] Items)
{
    public int Count => Items.Length;
}

/// <summary>A Python dict, <c>collections.OrderedDict</c> or <c>Counter</c>: insertion-ordered, later keys replace earlier ones.</summary>
internal sealed class PickleDict
{
    private static readonly object NoneKey = new();
    private readonly List<KeyValuePair<object?, object?>> _entries = [];
    private readonly Dictionary<object, int> _positions = [];

    public IReadOnlyList<KeyValuePair<object?, object?>> Entries => _entries;

    public void Set(object? key, object? value)
    {
        var lookup = key ?? NoneKey;
        if (_positions.TryGetValue(lookup, out var at))
            _entries[at] = new(key, value);
        else
        {
            _positions.Add(lookup, _entries.Count);
            _entries.Add(new(key, value));
        }
    }
}

/// <summary>A Python set or frozenset (members kept in pickle order; only ever inspected, never looked up).</summary>
internal sealed class PickleSet
{
    public List<object?> Items { get; } = [];
}

/// <summary>A global the allow-list admitted: a class or function name the unpickler knows how to apply.</summary>
internal sealed record PickleGlobal(string Module, string Name, AllowedGlobal Kind, SafeTensorDType? DType = null)
{
    public string FullName => $"{Module}.{Name}";
}

/// <summary>
/// A storage named by a persistent id <c>('storage', storage_type, key, location, numel)</c>: the record
/// <c>data/&lt;key&gt;</c> holds <see cref="Numel"/> elements of <see cref="DType"/> (bytes for an untyped storage).
/// </summary>
internal sealed record TorchStorage(string Key, SafeTensorDType DType, string Location, long Numel);

/// <summary>A tensor as <c>torch._utils._rebuild_tensor_v2</c> describes it: a strided view of a storage.</summary>
internal sealed record TorchTensor(TorchStorage Storage, SafeTensorDType DType, long StorageOffset, long[] Shape, long[] Strides);
