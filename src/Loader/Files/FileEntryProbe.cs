using System.Runtime.InteropServices;

namespace AccelAes.Loader.Files;

/// <summary>
/// Finds what sits at a path — regular file, folder, FIFO, device, socket, looping or broken symbolic link —
/// without opening it. .NET reports only "file" or "folder" (a FIFO and /dev/zero are both "files"), and opening a
/// FIFO to look blocks forever, so on Linux the type bits come from <c>statx</c>, whose buffer layout is the same
/// on every architecture. Elsewhere, or where the kernel lacks statx, non-folders read as regular files and
/// <see cref="InputFile"/>'s rule of never opening a zero-length entry (what FIFOs and devices report) still keeps
/// reads from blocking.
/// </summary>
internal static partial class FileEntryProbe
{
    public static FileEntryKind KindOf(string fullPath)
    {
        FileInfo info = new(fullPath);
        string? linkTarget;
        try
        {
            linkTarget = info.LinkTarget;
        }
        catch (IOException)
        {
            return FileEntryKind.SymlinkLoop; // a folder on the way is itself a looping link
        }
        catch (UnauthorizedAccessException)
        {
            return FileEntryKind.Inaccessible;
        }

        if (linkTarget is not null)
        {
            // A symbolic link (lstat): follow the chain ourselves to tell a loop from a missing target.
            try
            {
                FileSystemInfo? target = info.ResolveLinkTarget(returnFinalTarget: true);
                if (target is null || !target.Exists && !Directory.Exists(target.FullName)) return FileEntryKind.BrokenSymlink;
            }
            catch (IOException)
            {
                return FileEntryKind.SymlinkLoop; // ELOOP, "too many levels of symbolic links"
            }
            catch (UnauthorizedAccessException)
            {
                return FileEntryKind.Inaccessible;
            }
        }

        if (OperatingSystem.IsLinux() && TryStatx(fullPath, out FileEntryKind kind)) return kind;
        if (Directory.Exists(fullPath)) return FileEntryKind.Directory;
        return File.Exists(fullPath) ? FileEntryKind.RegularFile : FileEntryKind.Missing;
    }

    // ---- Linux statx -----------------------------------------------------------------------------------

    private const int AtFdCwd = -100;
    private const uint StatxType = 0x0001;
    private const int StatxBufferBytes = 256;
    private const int StatxModeOffset = 28; // after stx_mask, stx_blksize (u32), stx_attributes (u64), stx_nlink, stx_uid, stx_gid (u32)

    private const int ENOENT = 2, EACCES = 13, ENOTDIR = 20, ENAMETOOLONG = 36, ELOOP = 40;

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int Statx(int dirFd, string path, int flags, uint mask, byte* buffer);

    private static unsafe bool TryStatx(string fullPath, out FileEntryKind kind)
    {
        kind = FileEntryKind.Missing;
        byte* buffer = stackalloc byte[StatxBufferBytes];
        int rc;
        try
        {
            rc = Statx(AtFdCwd, fullPath, 0, StatxType, buffer);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false; // a libc without statx (glibc < 2.28, some musl): fall back to .NET's view
        }

        if (rc != 0)
        {
            switch (Marshal.GetLastPInvokeError())
            {
                case ENOENT or ENOTDIR: kind = FileEntryKind.Missing; return true;
                case ELOOP: kind = FileEntryKind.SymlinkLoop; return true;
                case EACCES or ENAMETOOLONG: kind = FileEntryKind.Inaccessible; return true;
                default: return false; // ENOSYS (a kernel before 4.11) and the rest: fall back to .NET's view
            }
        }

        int mode = *(ushort*)(buffer + StatxModeOffset);
        kind = (mode & 0xF000) switch
        {
            0x8000 => FileEntryKind.RegularFile,
            0x4000 => FileEntryKind.Directory,
            0x1000 => FileEntryKind.Fifo,
            0x2000 => FileEntryKind.CharacterDevice,
            0x6000 => FileEntryKind.BlockDevice,
            0xC000 => FileEntryKind.Socket,
            _ => FileEntryKind.Inaccessible,
        };
        return true;
    }
}
