namespace AccelAes.Engine.Tensors;

/// <summary>
/// A dense row-major tensor living on one backend. Tensors are created by the backend's ops;
/// a model never touches their storage directly, so the same model code runs on every backend.
/// </summary>
public abstract class Tensor : IDisposable
{
    protected Tensor(IBackend backend, Shape shape, DType dtype)
    {
        Backend = backend;
        Shape = shape;
        DType = dtype;
    }

    public IBackend Backend { get; }
    public Shape Shape { get; }
    public DType DType { get; }
    public int ElementCount => Shape.ElementCount;

    /// <summary>A tensor sharing this one's storage with another shape of the same element count.</summary>
    public Tensor Reshape(params int[] dims)
    {
        var shape = new Shape(dims);
        if (shape.ElementCount != ElementCount)
            throw new ArgumentException($"Cannot reshape {Shape} ({ElementCount} elements) to {shape} ({shape.ElementCount}).");
        return ReshapeCore(shape);
    }

    protected abstract Tensor ReshapeCore(Shape shape);

    /// <summary>Returns the storage to its backend. Using the tensor afterwards is an error.</summary>
    public virtual void Dispose() => GC.SuppressFinalize(this);

    public override string ToString() => $"{DType}{Shape} on {Backend.Name}";
}
