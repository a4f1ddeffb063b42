using System.Diagnostics;
using System.Net.Sockets;

namespace AccelAes.TestSupport;

/// <summary>Makes the non-regular files outputs must never replace: FIFOs (mkfifo) and Unix sockets.</summary>
public static class SpecialFiles
{
    public static string Fifo(string path)
    {
        using var mkfifo = Process.Start("mkfifo", [path])!;
        mkfifo.WaitForExit();
        Assert.Equal(0, mkfifo.ExitCode);
        return path;
    }

    /// <summary>A hard link: a second name for the same file.</summary>
    public static string HardLink(string path, string existing)
    {
        using var ln = Process.Start("ln", [existing, path])!;
        ln.WaitForExit();
        Assert.Equal(0, ln.ExitCode);
        return path;
    }

    /// <summary>SHA-256 of every file under each path (a file or a folder): compare before and after a run to show it changed no input.</summary>
    public static Dictionary<string, string> Fingerprint(params string[] paths)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string path in paths)
        {
            IEnumerable<string> files = Directory.Exists(path) ? Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories) : [path];
            foreach (string file in files)
                result[file] = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(file)));
        }
        return result;
    }

    /// <summary>A bound Unix domain socket (dispose it after the test; the socket file stays until the folder goes).</summary>
    public static Socket Socket(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(path));
        return socket;
    }
}
