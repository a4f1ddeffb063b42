using System.Diagnostics;
using System.Net.Sockets;

namespace AccelAes.TestSupport;

/// <summary>
/// Makes the non-regular entries hostile input and careless output paths are built from: FIFOs (mkfifo), Unix
/// sockets, hard links and symbolic-link loops; and a time limit so a regression that blocks fails instead of hanging.
/// </summary>
public static class SpecialFiles
{
    /// <summary>Creates a FIFO (named pipe) with the system's mkfifo; nothing ever writes to it, so opening it to read would block.</summary>
    public static string Fifo(string path)
    {
        using var mkfifo = Process.Start(new ProcessStartInfo("mkfifo", [path]) { UseShellExecute = false })!;
        mkfifo.WaitForExit();
        Assert.Equal(0, mkfifo.ExitCode);
        return path;
    }

    /// <summary>A hard link: a second name for the same file.</summary>
    public static string HardLink(string path, string existing)
    {
        using var ln = Process.Start(new ProcessStartInfo("ln", [existing, path]) { UseShellExecute = false })!;
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

    /// <summary>Makes <paramref name="path"/> one of two symbolic links pointing at each other.</summary>
    public static string SymlinkLoop(string path)
    {
        string other = path + ".other";
        File.CreateSymbolicLink(path, other);
        File.CreateSymbolicLink(other, path);
        return path;
    }

    /// <summary>
    /// Runs <paramref name="action"/> on a worker thread and fails the test if it has not finished within
    /// <paramref name="seconds"/>: a regression that blocks on a FIFO fails instead of hanging the run.
    /// </summary>
    public static T WithinSeconds<T>(int seconds, Func<T> action)
    {
        Task<T> task = Task.Run(action);
        Assert.True(task.Wait(TimeSpan.FromSeconds(seconds)), $"did not finish within {seconds} s (blocked on a special file?)");
        return task.Result;
    }

    /// <summary>As <see cref="WithinSeconds{T}"/>, returning what <paramref name="action"/> threw (null when it did not throw).</summary>
    public static Exception? ThrownWithinSeconds(int seconds, Action action) =>
        WithinSeconds(seconds, () =>
        {
            try
            {
                action();
                return (Exception?)null;
            }
            catch (Exception e)
            {
                return e;
            }
        });
}
