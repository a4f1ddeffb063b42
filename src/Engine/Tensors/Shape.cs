namespace AccelAes.Engine.Tensors;

/// <summary>
/// The dimensions of a dense, row-major tensor. Immutable; compares by value.
/// Element counts are checked against <see cref="int.MaxValue"/> because backends index with ints.
/// </summary>
public readonly struct Shape : IEquatable<Shape>
{
    private readonly int[] _dims;

    public Shape(params int[] dims)
    {
        ArgumentNullException.ThrowIfNull(dims);
        long count = 1;
        foreach (int d in dims)
        {
            if (d < 0)
                throw new ArgumentException($"Shape {Format(dims)} has a negative dimension.");
            count *= d;
            if (count > int.MaxValue)
                throw new AccelAesException($"Shape {Format(dims)} has {count:N0}+ elements, more than one tensor may hold ({int.MaxValue:N0}).");
        }
        _dims = (int[])dims.Clone();
        ElementCount = (int)count;
    }

    /// <summary>Number of dimensions.</summary>
    public int Rank => _dims?.Length ?? 0;

    /// <summary>Total number of elements (1 for a scalar shape).</summary>
    public int ElementCount { get; }

    public int this[int axis] => _dims[axis < 0 ? axis + Rank : axis];

    /// <summary>The last dimension (the feature / channel dimension of activations).</summary>
    public int Last => _dims[^1];

    /// <summary>Product of all dimensions but the last: the number of rows of a 2-D view.</summary>
    public int Rows => Last == 0 ? 0 : ElementCount / Last;

    public ReadOnlySpan<int> Dims => _dims;

    public int[] ToArray() => (int[])_dims.Clone();

    /// <summary>Normalises a possibly negative axis and checks it is in range.</summary>
    public int Axis(int axis)
    {
        int a = axis < 0 ? axis + Rank : axis;
        if (a < 0 || a >= Rank)
            throw new ArgumentOutOfRangeException(nameof(axis), $"Axis {axis} is out of range for shape {this}.");
        return a;
    }

    /// <summary>Product of the dimensions before <paramref name="axis"/>.</summary>
    public int Outer(int axis)
    {
        int p = 1;
        for (int i = 0; i < axis; i++) p *= _dims[i];
        return p;
    }

    /// <summary>Product of the dimensions after <paramref name="axis"/>.</summary>
    public int Inner(int axis)
    {
        int p = 1;
        for (int i = axis + 1; i < Rank; i++) p *= _dims[i];
        return p;
    }

    /// <summary>This shape with dimension <paramref name="axis"/> replaced.</summary>
    public Shape With(int axis, int size)
    {
        int[] d = ToArray();
        d[Axis(axis)] = size;
        return new Shape(d);
    }

    public bool Equals(Shape other) => Dims.SequenceEqual(other.Dims);
    public override bool Equals(object? obj) => obj is Shape s && Equals(s);
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (int d in Dims) h.Add(d);
        return h.ToHashCode();
    }
    public static bool operator ==(Shape a, Shape b) => a.Equals(b);
    public static bool operator !=(Shape a, Shape b) => !a.Equals(b);

    public override string ToString() => Format(_dims ?? []);

    private static string Format(int[] dims) => "[" + string.Join(", ", dims) + "]";
}
