using System.Security.Cryptography;

namespace AccelAes.TestSupport;

/// <summary>Content hashes of files: taken before and after a run, they show it changed no input.</summary>
public static class FileFingerprints
{
    /// <summary>SHA-256 of every file under each path (a file, or a folder searched at every depth), keyed by path.</summary>
    public static Dictionary<string, string> Of(params string[] paths)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string path in paths)
        {
            IEnumerable<string> files = Directory.Exists(path) ? Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories) : [path];
            foreach (string file in files)
                result[file] = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(file)));
        }
        return result;
    }
}
