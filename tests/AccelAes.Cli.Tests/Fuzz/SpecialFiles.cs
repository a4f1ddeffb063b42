using System.ComponentModel;
using System.Runtime.InteropServices;

namespace AccelAes.Cli.Tests.Fuzz;

/// <summary>
/// Creates the non-regular files a careless or hostile user can hand the CLI: FIFOs (opening one for reading blocks
/// until a writer comes, so a reader that does not check the file type hangs) and symlink loops (ELOOP on open).
/// </summary>
internal static partial class SpecialFiles
{
    [LibraryImport("libc", EntryPoint = "mkfifo", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int MkFifo(string path, uint mode);

    /// <summary>A FIFO at <paramref name="path"/> (nothing ever writes to it).</summary>
    public static void Fifo(string path)
    {
        if (MkFifo(path, 0b110_110_110) != 0)
            throw new Win32Exception(Marshal.GetLastPInvokeError(), $"mkfifo {path}");
    }

    /// <summary>A symlink that points at itself: every open of it fails with ELOOP.</summary>
    public static void SelfLoop(string path) => File.CreateSymbolicLink(path, Path.GetFileName(path));

    /// <summary>Replaces whatever is at <paramref name="path"/> (file or folder) by nothing.</summary>
    public static void Remove(string path)
    {
        // A symlink is removed itself, never what it points at.
        if (new FileInfo(path).LinkTarget is null && Directory.Exists(path)) Directory.Delete(path, recursive: true);
        else File.Delete(path);
    }
}
