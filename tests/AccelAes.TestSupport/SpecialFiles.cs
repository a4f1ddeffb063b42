using System.Diagnostics;
using System.Net.Sockets;

namespace AccelAes.TestSupport;

/// <summary>Makes the files output checks must see through: FIFOs (mkfifo), Unix sockets, hard links.</summary>
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

    /// <summary>A bound Unix domain socket (dispose it after the test; the socket file stays until the folder goes).</summary>
    public static Socket Socket(string path)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(path));
        return socket;
    }
}
