using System.Security.Cryptography;
using System.Text;

namespace AccelAes.Kernels.Compilation;

/// <summary>
/// On-disk cache of compiled modules, one file per (source with headers, options, architecture, NVRTC
/// version) key. Entries are written to a temporary file and renamed into place, so a reader never sees a
/// half-written entry; every entry carries its full key and a SHA-256 of its image, and any entry that
/// does not verify is treated as absent (and rewritten by the compiler), never trusted.
/// </summary>
/// <remarks>
/// Entry layout (little-endian): magic "AAKM" · u32 format · 32-byte key · u8 image kind · i32 PTX size ·
/// i64 compile ticks · i32 log length · log (UTF-8) · i32 image length · image · 32-byte SHA-256(image).
/// </remarks>
public sealed class KernelCache
{
    /// <summary>Root of AccelAes' caches; kernels go to its "kernels" subdirectory.</summary>
    public const string CacheDirectoryVariable = "ACCELAES_CACHE_DIR";

    private const uint Magic = 0x4D4B4141; // "AAKM"
    private const uint Format = 1;

    public KernelCache(string directory) => Directory = directory;

    public string Directory { get; }

    /// <summary><c>$ACCELAES_CACHE_DIR/kernels</c>, else <c>~/.cache/accelaes/kernels</c> (LocalAppData on Windows).</summary>
    public static string DefaultDirectory()
    {
        var root = Environment.GetEnvironmentVariable(CacheDirectoryVariable);
        if (!string.IsNullOrWhiteSpace(root))
            return Path.Combine(root, "kernels");
        if (OperatingSystem.IsWindows())
            return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "accelaes", "kernels");
        return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "accelaes", "kernels");
    }

    /// <summary>The SHA-256 key of a compilation: everything that can change its output.</summary>
    public static string Key(KernelSource source, IReadOnlyList<KernelSource> headers, IReadOnlyList<string> options, GpuArchitecture architecture, string nvrtcVersion)
    {
        var text = new StringBuilder();
        void Field(string name, string value) => text.Append(name).Append('\0').Append(value.Length).Append('\0').Append(value).Append('\0');
        Field("format", Format.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Field("nvrtc", nvrtcVersion);
        Field("arch", architecture.ToString());
        foreach (var option in options)
            Field("option", option);
        Field("file", source.FileName);
        Field("source", source.Text);
        foreach (var header in headers.OrderBy(h => h.FileName, StringComparer.Ordinal))
        {
            Field("header", header.FileName);
            Field("text", header.Text);
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <summary>The file an entry lives in: readable prefix (file, arch) plus the key.</summary>
    public string PathFor(string sourceFile, GpuArchitecture architecture, string key) =>
        Path.Combine(Directory, $"{Path.GetFileNameWithoutExtension(sourceFile)}-{architecture}-{key[..32]}.kmod");

    /// <summary>A verified entry read back.</summary>
    public sealed record Entry(KernelImageKind ImageKind, int PtxBytes, TimeSpan CompileTime, string Log, byte[] Image);

    /// <summary>Reads the entry for <paramref name="key"/>; null with <paramref name="problem"/> set when it is absent or does not verify.</summary>
    public Entry? TryRead(string path, string key, out string? problem)
    {
        problem = null;
        if (!File.Exists(path))
            return null;
        try
        {
            using var reader = new BinaryReader(File.OpenRead(path));
            if (reader.ReadUInt32() != Magic || reader.ReadUInt32() != Format)
                return Corrupt(out problem, "bad header");
            if (!reader.ReadBytes(32).AsSpan().SequenceEqual(Convert.FromHexString(key)))
                return Corrupt(out problem, "key mismatch");
            var kind = (KernelImageKind)reader.ReadByte();
            if (kind is not (KernelImageKind.Ptx or KernelImageKind.Cubin))
                return Corrupt(out problem, "bad image kind");
            var ptxBytes = reader.ReadInt32();
            var ticks = reader.ReadInt64();
            var log = Encoding.UTF8.GetString(ReadBlock(reader));
            var image = ReadBlock(reader);
            var hash = reader.ReadBytes(32);
            if (reader.BaseStream.Position != reader.BaseStream.Length)
                return Corrupt(out problem, "trailing bytes");
            if (!SHA256.HashData(image).AsSpan().SequenceEqual(hash))
                return Corrupt(out problem, "image hash mismatch");
            return new Entry(kind, ptxBytes, TimeSpan.FromTicks(ticks), log, image);
        }
        catch (Exception e) when (e is IOException or EndOfStreamException or ArgumentException or FormatException or UnauthorizedAccessException)
        {
            return Corrupt(out problem, e.Message);
        }
    }

    /// <summary>Writes an entry atomically (temp file in the same directory, then rename over the target).</summary>
    public void Write(string path, string key, Entry entry)
    {
        System.IO.Directory.CreateDirectory(Directory);
        var temp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
            using (var writer = new BinaryWriter(stream))
            {
                writer.Write(Magic);
                writer.Write(Format);
                writer.Write(Convert.FromHexString(key));
                writer.Write((byte)entry.ImageKind);
                writer.Write(entry.PtxBytes);
                writer.Write(entry.CompileTime.Ticks);
                WriteBlock(writer, Encoding.UTF8.GetBytes(entry.Log));
                WriteBlock(writer, entry.Image);
                writer.Write(SHA256.HashData(entry.Image));
                writer.Flush();
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
                File.Delete(temp);
        }
    }

    private static byte[] ReadBlock(BinaryReader reader)
    {
        var length = reader.ReadInt32();
        if (length < 0 || length > reader.BaseStream.Length - reader.BaseStream.Position)
            throw new FormatException("block length out of range");
        return reader.ReadBytes(length);
    }

    private static void WriteBlock(BinaryWriter writer, byte[] bytes)
    {
        writer.Write(bytes.Length);
        writer.Write(bytes);
    }

    private static Entry? Corrupt(out string? problem, string why)
    {
        problem = why;
        return null;
    }
}
