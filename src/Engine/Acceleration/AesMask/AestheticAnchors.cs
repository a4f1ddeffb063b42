using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using AccelAes.Loader.Files;

namespace AccelAes.Engine.Acceleration.AesMask;

/// <summary>The anchor phrases' embeddings: <see cref="Count"/> unit rows of <see cref="Dimension"/> floats.</summary>
public sealed class AnchorTable
{
    private readonly float[] _data;

    public AnchorTable(float[] data, int count, int dimension)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (count < 1 || dimension < 1 || data.Length != count * dimension)
            throw new ArgumentException($"An anchor table of {count} × {dimension} needs {count * dimension} values, got {data.Length}.");
        _data = data;
        Count = count;
        Dimension = dimension;
    }

    public int Count { get; }

    public int Dimension { get; }

    /// <summary>Anchor <paramref name="k"/>'s embedding.</summary>
    public ReadOnlySpan<float> Row(int k) => _data.AsSpan(k * Dimension, Dimension);

    /// <summary>All rows, row-major (for serialisation or upload).</summary>
    public ReadOnlySpan<float> Data => _data;

    /// <summary>
    /// <c>max_k w · a_k</c> (cosine: both sides are unit vectors), each dot product accumulated in float64 and rounded
    /// to float32 (torch's float32 GEMM sums in another order; the difference is at float32 rounding level).
    /// </summary>
    public float MaxCosine(ReadOnlySpan<float> word)
    {
        if (word.Length != Dimension)
            throw new AccelAesException($"A word embedding has {word.Length} values but the anchors have {Dimension}; the embedder changed dimension.");
        float best = float.NegativeInfinity;
        for (int k = 0; k < Count; k++)
        {
            ReadOnlySpan<float> a = Row(k);
            double dot = 0;
            for (int i = 0; i < a.Length; i++) dot += (double)word[i] * a[i];
            best = Math.Max(best, (float)dot);
        }

        return best;
    }

    /// <summary>Embeds <paramref name="phrases"/> with <paramref name="embedder"/>, checking its contract.</summary>
    public static AnchorTable Compute(IPhraseEmbedder embedder, IReadOnlyList<string> phrases)
    {
        float[][] rows = PhraseEmbeddings.Checked(embedder, phrases);
        int dim = rows[0].Length;
        var data = new float[rows.Length * dim];
        for (int k = 0; k < rows.Length; k++) rows[k].CopyTo(data, k * dim);
        return new AnchorTable(data, rows.Length, dim);
    }
}

/// <summary>
/// The 34 aesthetic anchor phrases of AesMask (<c>SemanticMaskBuilder.DEFAULT_ANCHORS</c>, paper App. A.1), exact
/// strings and order, and their embedding table, computed once per embedder: cached in memory for the embedder's
/// lifetime and, when the embedder names its weights (<see cref="IPhraseEmbedder.WeightsKey"/>) and a folder is
/// given, on disk.
/// </summary>
/// <remarks>
/// Disk cache: file <c>anchors-&lt;16 hex&gt;.bin</c>, the hex being the first 8 bytes of
/// SHA-256(<c>"accelaes-anchors-v1\n" + weights key + "\n" + the phrases joined by "\n"</c>), so new weights or a changed
/// anchor list never reuse a stale table. Content: magic <c>AAANCHR1</c>, int32 count, int32 dimension, float32 rows
/// (little-endian). A file that does not parse is recomputed and overwritten; writes go to a temporary name first.
/// </remarks>
public static class AestheticAnchors
{
    /// <summary>The anchor phrases, in the reference's order.</summary>
    public static IReadOnlyList<string> Phrases { get; } =
    [
        "photorealistic", "realistic", "cinematic", "highly detailed", "artistic", "masterpiece",
        "professional photography", "soft bokeh", "bokeh", "dramatic lighting", "fantasy art", "studio lighting",
        "detailed", "intricate", "sharp focus", "sharp",
        "stunning", "beautiful", "elegant", "vivid", "vibrant",
        "depth of field", "volumetric lighting", "close up", "portrait", "full body",
        "main subject", "foreground", "focused",
        "subject", "character", "object", "figure", "person",
    ];

    private const string Magic = "AAANCHR1";
    private static readonly ConditionalWeakTable<IPhraseEmbedder, AnchorTable> Memory = new();

    /// <summary>The anchor table of an embedder: from memory, else from <paramref name="cacheDirectory"/>, else computed (and stored in both).</summary>
    public static AnchorTable TableFor(IPhraseEmbedder embedder, string? cacheDirectory = null)
    {
        ArgumentNullException.ThrowIfNull(embedder);
        if (Memory.TryGetValue(embedder, out AnchorTable? cached)) return cached;

        string? path = cacheDirectory is not null && embedder.WeightsKey is { } key ? Path.Combine(cacheDirectory, CacheFileName(key)) : null;
        AnchorTable? table = path is null ? null : TryRead(path);
        if (table is null)
        {
            table = AnchorTable.Compute(embedder, Phrases);
            if (path is not null) Write(path, table);
        }

        return Memory.GetValue(embedder, _ => table);
    }

    /// <summary>The disk cache file name for an embedder's weights key.</summary>
    public static string CacheFileName(string weightsKey)
    {
        ArgumentNullException.ThrowIfNull(weightsKey);
        string identity = "accelaes-anchors-v1\n" + weightsKey + "\n" + string.Join("\n", Phrases);
        byte[] hash = SHA256.HashData(Encoding.UTF8.GetBytes(identity));
        return "anchors-" + Convert.ToHexStringLower(hash.AsSpan(0, 8)) + ".bin";
    }

    private static AnchorTable? TryRead(string path)
    {
        // A cache file that is not a regular file of the expected size at most is ignored (and recomputed), never opened.
        if (InputFile.KindOf(path) != FileEntryKind.RegularFile) return null;
        try
        {
            byte[] bytes = InputFile.ReadAllBytes(path, 16 + (long)Phrases.Count * MaxCachedDimension * sizeof(float), "Anchor cache");
            if (bytes.Length < 16 || Encoding.ASCII.GetString(bytes, 0, 8) != Magic) return null;
            int count = BitConverter.ToInt32(bytes, 8), dim = BitConverter.ToInt32(bytes, 12);
            if (count != Phrases.Count || dim < 1 || dim > MaxCachedDimension || bytes.Length != 16 + (long)count * dim * 4) return null;
            var data = new float[count * dim];
            Buffer.BlockCopy(bytes, 16, data, 0, data.Length * 4);
            return data.All(float.IsFinite) ? new AnchorTable(data, count, dim) : null;
        }
        catch (Exception e) when (e is IOException or AccelAesException)
        {
            return null;
        }
    }

    // CLIP-L's projection is 768 wide; a cache claiming more is damaged.
    private const int MaxCachedDimension = 1 << 16;

    private static void Write(string path, AnchorTable table)
    {
        string temp = path + "." + Environment.ProcessId + ".tmp";
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            using (var stream = File.Create(temp))
            {
                stream.Write(Encoding.ASCII.GetBytes(Magic));
                stream.Write(BitConverter.GetBytes(table.Count));
                stream.Write(BitConverter.GetBytes(table.Dimension));
                stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(table.Data));
            }

            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A cache that cannot be written only costs the next run one CLIP call.
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}

/// <summary>Checks an <see cref="IPhraseEmbedder"/>'s output against its contract.</summary>
internal static class PhraseEmbeddings
{
    public static float[][] Checked(IPhraseEmbedder embedder, IReadOnlyList<string> phrases)
    {
        ArgumentNullException.ThrowIfNull(embedder);
        ArgumentNullException.ThrowIfNull(phrases);
        float[][] rows = embedder.EmbedPhrases(phrases)
                         ?? throw new AccelAesException("The phrase embedder returned nothing.");
        if (rows.Length != phrases.Count)
            throw new AccelAesException($"The phrase embedder returned {rows.Length} embeddings for {phrases.Count} phrases.");
        if (rows.Length == 0) return rows;
        int dim = rows[0]?.Length ?? 0;
        for (int i = 0; i < rows.Length; i++)
        {
            float[] r = rows[i];
            if (r is null || r.Length != dim || dim == 0)
                throw new AccelAesException($"The phrase embedder returned embeddings of different or zero dimension (phrase {i}, '{phrases[i]}').");
            double norm = 0;
            foreach (float v in r)
            {
                if (!float.IsFinite(v)) throw new AccelAesException($"The embedding of phrase '{phrases[i]}' holds a non-finite value.");
                norm += (double)v * v;
            }

            if (Math.Abs(Math.Sqrt(norm) - 1) > 1e-3)
                throw new AccelAesException($"The embedding of phrase '{phrases[i]}' has L2 norm {Math.Sqrt(norm):G6}; the embedder must return unit vectors.");
        }

        return rows;
    }
}
