namespace AccelAes.Loader.Files;

/// <summary>
/// Finds what sits at a path — regular file, folder, FIFO, device, socket, looping or broken symbolic link —
/// without opening it. .NET reports only "file" or "folder" (a FIFO and /dev/zero are both "files"), and opening a
/// FIFO to look blocks forever, so on Linux the type bits come from <c>statx</c>, whose buffer layout is the same
/// on every architecture. Elsewhere, or where the kernel lacks statx, non-folders read as regular files and
/// <see cref="InputFile"/>'s rule of never opening a zero-length entry (what FIFOs and devices report) still keeps
/// reads from blocking.
/// </summary>
internal static class FileEntryProbe
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

    /// <summary>The kind statx reports (<see cref="PathStatus"/> holds the one statx binding); false: statx is unavailable here.</summary>
    private static bool TryStatx(string fullPath, out FileEntryKind kind)
    {
        kind = FileEntryKind.Missing;
        if (!PathStatus.TryStatx(fullPath, out PathStatus? status, out int errno)) return false;
        if (status is not { } s)
        {
            switch (errno)
            {
                case PathStatus.ENOENT or PathStatus.ENOTDIR: kind = FileEntryKind.Missing; return true;
                case PathStatus.ELOOP: kind = FileEntryKind.SymlinkLoop; return true;
                case PathStatus.EACCES or PathStatus.ENAMETOOLONG: kind = FileEntryKind.Inaccessible; return true;
                default: return false; // anything else: fall back to .NET's view
            }
        }
        kind = s.Kind;
        return true;
    }
}
