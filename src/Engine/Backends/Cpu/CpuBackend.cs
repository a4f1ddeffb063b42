using AccelAes.Engine.Tensors;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Engine.Backends.Cpu;

/// <summary>
/// The fp32 reference backend (DESIGN.md §2): every op written plainly, vectorised with
/// System.Numerics.Tensors and multi-threaded where the work is large enough. It defines the semantics
/// the CUDA kernels are checked against, so clarity wins over cleverness everywhere but the GEMM.
/// </summary>
public sealed partial class CpuBackend : IBackend
{
    public string Name => "cpu";

    public DType ActivationType => DType.F32;

    public Tensor Upload(ReadOnlySpan<float> values, Shape shape)
    {
        if (values.Length != shape.ElementCount)
            throw new ArgumentException($"{values.Length} values do not fill shape {shape}.");
        var t = New(shape);
        values.CopyTo(t.Span);
        return t;
    }

    public Tensor UploadWeight(ReadOnlySpan<byte> bytes, DType source, Shape shape)
    {
        SafeTensorDType format = source switch
        {
            DType.F32 => SafeTensorDType.F32,
            DType.F16 => SafeTensorDType.F16,
            DType.BF16 => SafeTensorDType.BF16,
            _ => throw new ArgumentOutOfRangeException(nameof(source), source, "Weights are F32, F16 or BF16."),
        };
        if (bytes.Length != (long)shape.ElementCount * format.ByteSize())
            throw new ArgumentException($"{bytes.Length} bytes do not hold {shape} of {source}.");
        var t = New(shape);
        DTypeConversion.ToFloat32(bytes, format, t.Span);
        return t;
    }

    public Tensor Zeros(Shape shape) => New(shape);

    public Tensor UploadIndices(ReadOnlySpan<int> values, Shape shape)
    {
        if (values.Length != shape.ElementCount)
            throw new ArgumentException($"{values.Length} indices do not fill shape {shape}.");
        return new CpuIndexTensor(this, shape, values.ToArray());
    }

    public float[] Download(Tensor tensor) => tensor is CpuIndexTensor ids
        ? Array.ConvertAll(ids.Data, i => (float)i)
        : C(tensor).Span.ToArray();

    public void Dispose() { }

    // ---- helpers shared by the op files --------------------------------------------------------

    internal CpuTensor New(Shape shape) => new(this, shape, new float[shape.ElementCount]);

    /// <summary>The CPU view of a tensor, refusing tensors of other backends.</summary>
    internal CpuTensor C(Tensor t)
    {
        ArgumentNullException.ThrowIfNull(t);
        if (t is CpuTensor c && ReferenceEquals(t.Backend, this)) return c;
        throw new ArgumentException($"Tensor {t} is not an fp32 tensor of this CPU backend.");
    }

    /// <summary>The CPU view of an index tensor.</summary>
    internal CpuIndexTensor I(Tensor t)
    {
        ArgumentNullException.ThrowIfNull(t);
        if (t is CpuIndexTensor c && ReferenceEquals(t.Backend, this)) return c;
        throw new ArgumentException($"Tensor {t} is not an index (I32) tensor of this CPU backend.");
    }

    internal static void RequireSameShape(Tensor a, Tensor b, string op)
    {
        if (a.Shape != b.Shape)
            throw new ArgumentException($"{op}: shapes {a.Shape} and {b.Shape} differ.");
    }

    internal static void RequireRank(Tensor t, int rank, string op, string what)
    {
        if (t.Shape.Rank != rank)
            throw new ArgumentException($"{op}: {what} must have rank {rank}, got {t.Shape}.");
    }
}
