namespace AccelAes.Loader.PyTorch;

/// <summary>What an allow-listed global is, and so what applying it (REDUCE, NEWOBJ) builds.</summary>
internal enum AllowedGlobal
{
    /// <summary><c>collections.OrderedDict</c>, <c>collections.Counter</c>: an empty dict.</summary>
    Dict,
    /// <summary><c>builtins.set</c>, <c>builtins.frozenset</c>.</summary>
    Set,
    /// <summary><c>torch._utils._rebuild_tensor</c> (storage, offset, size, stride).</summary>
    RebuildTensor,
    /// <summary><c>torch._utils._rebuild_tensor_v2</c> (storage, offset, size, stride, requires_grad, hooks[, metadata]).</summary>
    RebuildTensorV2,
    /// <summary><c>torch._utils._rebuild_tensor_v3</c> (…, dtype[, metadata]), used for dtypes without a legacy storage class.</summary>
    RebuildTensorV3,
    /// <summary><c>torch._utils._rebuild_parameter</c> and <c>_rebuild_parameter_with_state</c>: the tensor itself.</summary>
    RebuildParameter,
    /// <summary><c>torch._tensor._rebuild_from_type_v2</c> (func, type, args, state): applies func to args.</summary>
    RebuildFromType,
    /// <summary><c>torch.nn.parameter.Parameter</c>, <c>torch.Tensor</c>: the tensor classes.</summary>
    TensorClass,
    /// <summary><c>torch.FloatStorage</c> and its kin, <c>torch.UntypedStorage</c>: named in persistent ids.</summary>
    StorageType,
    /// <summary><c>torch.float32</c> and the other dtypes.</summary>
    DType,
    /// <summary><c>torch.Size</c>: a tuple.</summary>
    Size,
    /// <summary><c>torch.device</c>, <c>torch.serialization._get_layout</c>: kept as their string argument.</summary>
    NameValue,
    /// <summary><c>_codecs.encode</c>, <c>builtins.bytearray</c>: how protocol 2 spells bytes.</summary>
    Bytes,
    /// <summary><c>builtins.complex</c>: a (real, imaginary) tuple.</summary>
    Complex,
    /// <summary>
    /// Allowed by <c>torch.load(weights_only=True)</c> but not turned into tensors here (sparse, quantized, meta and
    /// subclass tensors, quantization schemes): refused as unsupported, never as forbidden.
    /// </summary>
    Unsupported,
}
