using System.Text;
using System.Text.RegularExpressions;

namespace AccelAes.Cli.Tests;

/// <summary>A temporary ACCELAES_CACHE_DIR for one test class, so the built-in model is written there, never in the user's cache.</summary>
public sealed class CliCache : IDisposable
{
    private readonly TempDirectory _dir = new();

    public string Path => _dir.Path;

    public IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string> { ["ACCELAES_CACHE_DIR"] = _dir.Path };

    internal CliRunner.Result Run(params string[] args) => CliRunner.Run(Environment, args);

    /// <summary>Writes a tiny model with `accelaes make-tiny` into <paramref name="into"/>.</summary>
    internal string MakeTiny(string arch, TempDirectory into)
    {
        string folder = into.File(arch);
        var r = Run("make-tiny", "--arch", arch, "--out", folder);
        Assert.True(r.ExitCode == 0, r.All);
        return folder;
    }

    /// <summary>Console text with line wrapping undone (the console may wrap long messages).</summary>
    internal static string Flat(string text) => Regex.Replace(text, @"\s+", " ");

    public void Dispose() => _dir.Dispose();
}

/// <summary>
/// The text chunks of a PNG file, read from its chunk list: tEXt (keyword NUL Latin-1 text) and uncompressed iTXt
/// (keyword NUL, compression flag and method, language NUL, translated keyword NUL, UTF-8 text), which BigGustave writes.
/// </summary>
internal static class PngText
{
    public static Dictionary<string, string> Read(byte[] png)
    {
        var text = new Dictionary<string, string>();
        int pos = 8; // signature
        while (pos + 12 <= png.Length)
        {
            int length = (png[pos] << 24) | (png[pos + 1] << 16) | (png[pos + 2] << 8) | png[pos + 3];
            string type = Encoding.ASCII.GetString(png, pos + 4, 4);
            ReadOnlySpan<byte> data = png.AsSpan(pos + 8, length);
            if (type is "tEXt" or "iTXt")
            {
                int nul = data.IndexOf((byte)0);
                string keyword = Encoding.Latin1.GetString(data[..nul]);
                ReadOnlySpan<byte> rest = data[(nul + 1)..];
                if (type == "tEXt")
                    text[keyword] = Encoding.Latin1.GetString(rest);
                else
                {
                    Assert.Equal(0, rest[0]); // uncompressed
                    rest = rest[2..];
                    rest = rest[(rest.IndexOf((byte)0) + 1)..]; // language tag
                    rest = rest[(rest.IndexOf((byte)0) + 1)..]; // translated keyword
                    text[keyword] = Encoding.UTF8.GetString(rest);
                }
            }
            pos += 12 + length;
        }
        return text;
    }
}
