using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.PyTorch;

/// <summary>
/// The globals a checkpoint may name: exactly those <c>torch.load(weights_only=True)</c> admits by default
/// (<c>_get_allowed_globals</c> in pytorch/pytorch torch/_weights_only_unpickler.py, commit 00f730b66e58769f9698d9236f58cd46c3794115),
/// each mapped to the fixed construction it stands for. Anything else — <c>os.system</c>, <c>builtins.eval</c>, a
/// model class — is refused by name before anything is applied; nothing named in a pickle is ever looked up and run.
/// </summary>
internal static class WeightsOnlyGlobals
{
    /// <summary>Python 2 module names that pickle protocol 2 maps to Python 3 ones (as torch's loader does).</summary>
    private static readonly Dictionary<string, string> ModuleRenames = new(StringComparer.Ordinal)
    {
        ["__builtin__"] = "builtins",
        ["copy_reg"] = "copyreg",
    };

    // Legacy storage classes (torch.storage._dtype_to_storage_type_map) and the element type each holds.
    private static readonly (string Name, SafeTensorDType DType)[] StorageTypes =
    [
        ("DoubleStorage", SafeTensorDType.F64), ("FloatStorage", SafeTensorDType.F32), ("HalfStorage", SafeTensorDType.F16),
        ("BFloat16Storage", SafeTensorDType.BF16), ("LongStorage", SafeTensorDType.I64), ("IntStorage", SafeTensorDType.I32),
        ("ShortStorage", SafeTensorDType.I16), ("CharStorage", SafeTensorDType.I8), ("ByteStorage", SafeTensorDType.U8),
        ("BoolStorage", SafeTensorDType.Bool), ("ComplexFloatStorage", SafeTensorDType.C64),
        // Untyped storages hold bytes; the tensor's dtype then comes from _rebuild_tensor_v3.
        ("UntypedStorage", SafeTensorDType.U8),
    ];

    // Storage classes torch allows whose element types have no safetensors counterpart.
    private static readonly string[] UnsupportedStorageTypes =
        ["ComplexDoubleStorage", "QUInt8Storage", "QInt8Storage", "QInt32Storage", "QUInt4x2Storage", "QUInt2x4Storage"];

    // torch dtypes, as pickled (str(dtype) is "torch.<canonical name>"), and their safetensors counterparts.
    private static readonly (string Name, SafeTensorDType DType)[] DTypes =
    [
        ("float64", SafeTensorDType.F64), ("float32", SafeTensorDType.F32),
        ("float16", SafeTensorDType.F16), ("bfloat16", SafeTensorDType.BF16), ("int64", SafeTensorDType.I64), ("int32", SafeTensorDType.I32), ("int16", SafeTensorDType.I16),
        ("int8", SafeTensorDType.I8), ("uint8", SafeTensorDType.U8),
        ("uint16", SafeTensorDType.U16), ("uint32", SafeTensorDType.U32), ("uint64", SafeTensorDType.U64),
        ("bool", SafeTensorDType.Bool), ("complex64", SafeTensorDType.C64), ("float8_e4m3fn", SafeTensorDType.F8E4M3), ("float8_e5m2", SafeTensorDType.F8E5M2),
        ("float8_e8m0fnu", SafeTensorDType.F8E8M0),
    ];

    private static readonly Dictionary<string, PickleGlobal> Allowed = Build();

    /// <summary>The global's meaning, or null when torch's allow-list does not admit it.</summary>
    internal static PickleGlobal? Find(string module, string name) =>
        Allowed.GetValueOrDefault($"{CanonicalModule(module)}.{name}");

    /// <summary>The Python 3 name of a module a protocol 2 pickle may spell the Python 2 way (<c>__builtin__</c>).</summary>
    internal static string CanonicalModule(string module) => ModuleRenames.GetValueOrDefault(module, module);

    private static Dictionary<string, PickleGlobal> Build()
    {
        var table = new Dictionary<string, PickleGlobal>(StringComparer.Ordinal);
        void Add(string module, string name, AllowedGlobal kind, SafeTensorDType? dtype = null) =>
            table[$"{module}.{name}"] = new PickleGlobal(module, name, kind, dtype);

        Add("collections", "OrderedDict", AllowedGlobal.Dict);
        Add("collections", "Counter", AllowedGlobal.Dict);
        Add("builtins", "set", AllowedGlobal.Set);
        Add("builtins", "bytearray", AllowedGlobal.Bytes);
        Add("_codecs", "encode", AllowedGlobal.Bytes);
        Add("builtins", "complex", AllowedGlobal.Complex);
        Add("torch", "Size", AllowedGlobal.Size);
        Add("torch", "device", AllowedGlobal.NameValue);
        Add("torch.serialization", "_get_layout", AllowedGlobal.NameValue);
        Add("torch", "Tensor", AllowedGlobal.TensorClass);
        Add("torch.nn.parameter", "Parameter", AllowedGlobal.TensorClass);
        Add("torch._utils", "_rebuild_tensor", AllowedGlobal.RebuildTensor);
        Add("torch._utils", "_rebuild_tensor_v2", AllowedGlobal.RebuildTensorV2);
        Add("torch._utils", "_rebuild_tensor_v3", AllowedGlobal.RebuildTensorV3);
        Add("torch._utils", "_rebuild_parameter", AllowedGlobal.RebuildParameter);
        Add("torch._utils", "_rebuild_parameter_with_state", AllowedGlobal.RebuildParameter);
        Add("torch._tensor", "_rebuild_from_type_v2", AllowedGlobal.RebuildFromType);
        foreach (var name in new[]
                 {
                     "_rebuild_qtensor", "_rebuild_sparse_tensor", "_rebuild_meta_tensor_no_storage",
                     "_rebuild_wrapper_subclass", "_rebuild_device_tensor_from_numpy", "_rebuild_device_tensor_from_cpu_tensor",
                 })
            Add("torch._utils", name, AllowedGlobal.Unsupported);
        foreach (var name in new[]
                 {
                     "per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric",
                     "per_channel_affine_float_qparams",
                 })
            Add("torch", name, AllowedGlobal.Unsupported);
        foreach (var (name, dtype) in StorageTypes)
            Add("torch", name, AllowedGlobal.StorageType, dtype);
        foreach (var name in UnsupportedStorageTypes)
            Add("torch", name, AllowedGlobal.Unsupported);
        foreach (var (name, dtype) in DTypes)
            Add("torch", name, AllowedGlobal.DType, dtype);
        return table;
    }
}
