using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Acceleration.Runtime;

/// <summary>Puts the rows a forward computed for the focus tokens back into the full image tokens.</summary>
public static class ActiveRows
{
    /// <summary>Writes <paramref name="rows"/> [B, nF, D] into the focus rows of <paramref name="image"/> [B, N, D] in place; returns it.</summary>
    public static Tensor ScatterInto(SparseForward tokens, Tensor image, Tensor rows)
    {
        int batch = image.Shape[0], n = image.Shape[1], d = image.Shape[2];
        if (n != tokens.ImageTokens || rows.Shape[1] != tokens.FocusCount)
            throw new InvalidOperationException($"{rows.Shape} focus rows do not fit image tokens {image.Shape} ({tokens.FocusCount} of {tokens.ImageTokens}).");
        IBackend be = image.Backend;
        be.ScatterRowsInPlace(image.Reshape(batch * n, d), tokens.FocusRows(be, batch), rows.Reshape(batch * tokens.FocusCount, d));
        return image;
    }
}
