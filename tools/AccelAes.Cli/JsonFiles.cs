using System.Text.Json;
using AccelAes.Loader.Files;

namespace AccelAes.Cli;

/// <summary>Writing result files the way every output is written (DESIGN.md §7): a temporary name, renamed when complete.</summary>
internal static class JsonFiles
{
    /// <summary>Writes <paramref name="bytes"/> through <see cref="OutputFile"/>; <paramref name="what"/> names the option in messages.</summary>
    public static void WriteAtomically(string path, byte[] bytes, string what = "--json") => OutputFile.WriteAllBytes(path, what, bytes);

    /// <summary>JSON has no ∞ or NaN: those become null.</summary>
    public static void Number(Utf8JsonWriter w, string name, double value)
    {
        if (double.IsFinite(value)) w.WriteNumber(name, value);
        else w.WriteNull(name);
    }

    /// <summary>Writes an indented JSON document built by <paramref name="write"/> to <paramref name="path"/>, atomically.</summary>
    public static void Write(string path, Action<Utf8JsonWriter> write, string what = "--json")
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            write(w);
        WriteAtomically(path, stream.ToArray(), what);
    }
}
