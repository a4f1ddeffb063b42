namespace AccelAes.Engine.Tensors;

/// <summary>
/// Shape rules of ops that both backends must enforce identically, so the CPU reference and the CUDA backend reject
/// the same inputs with the same message.
/// </summary>
internal static class OpShapes
{
    /// <summary>
    /// The result of concatenating <paramref name="parts"/> along <paramref name="axis"/> (negative counts from the end):
    /// equal ranks, equal sizes off the axis. Returns the result shape and the resolved axis.
    /// </summary>
    public static (Shape Result, int Axis) Concat(int axis, Tensor[] parts)
    {
        if (parts.Length == 0) throw new ArgumentException("Concat needs at least one tensor.");
        Shape first = parts[0].Shape;
        int ax = first.Axis(axis);
        int total = 0;
        foreach (var p in parts)
        {
            if (p.Shape.Rank != first.Rank)
                throw new ArgumentException($"Concat: ranks of {first} and {p.Shape} differ.");
            for (int i = 0; i < first.Rank; i++)
                if (i != ax && p.Shape[i] != first[i])
                    throw new ArgumentException($"Concat along axis {ax}: {first} and {p.Shape} differ in axis {i}.");
            total += p.Shape[ax];
        }
        return (first.With(ax, total), ax);
    }
}
