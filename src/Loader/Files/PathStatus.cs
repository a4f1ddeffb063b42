using System.Runtime.InteropServices;

namespace AccelAes.Loader.Files;

/// <summary>
/// What an existing path is — its type and its (device, inode) identity — found without opening it. .NET calls a
/// FIFO, a socket and /dev/null "files" alike and has no inode, so on Linux both come from <c>statx</c>, whose buffer
/// layout is the same on every architecture. Elsewhere (or on a libc without statx) the type is only "folder" or
/// "file" and the identity is unknown: callers then compare paths instead.
/// </summary>
internal readonly partial record struct PathStatus(FileEntryKind Kind, ulong Device, ulong Inode)
{
    public bool IsRegularFile => Kind == FileEntryKind.RegularFile;
    public bool IsDirectory => Kind == FileEntryKind.Directory;

    /// <summary>True when both name the same file (hard links, symbolic links and bind mounts included).</summary>
    public bool SameFileAs(PathStatus other) => Inode != 0 && Inode == other.Inode && Device == other.Device;

    /// <summary>"a named pipe (FIFO)", "a character device", ...: for messages.</summary>
    public string Description => Kind switch
    {
        FileEntryKind.RegularFile => "a file",
        FileEntryKind.Directory => "a folder",
        FileEntryKind.Fifo => "a named pipe (FIFO)",
        FileEntryKind.CharacterDevice => "a character device",
        FileEntryKind.BlockDevice => "a block device",
        FileEntryKind.Socket => "a socket",
        _ => "not a regular file",
    };

    /// <summary>The status of <paramref name="path"/>, symbolic links followed; null when nothing is there (or a folder on the way is missing or is a file).</summary>
    /// <exception cref="IOException">A symbolic link loop, a name too long, or a folder that cannot be searched.</exception>
    public static PathStatus? Of(string path)
    {
        if (OperatingSystem.IsLinux() && TryStatx(path, out PathStatus? status, out int errno))
        {
            if (errno == 0 || errno is ENOENT or ENOTDIR) return status;
            throw new IOException($"cannot examine '{path}': {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        if (Directory.Exists(path)) return new PathStatus(FileEntryKind.Directory, 0, 0);
        return File.Exists(path) ? new PathStatus(FileEntryKind.RegularFile, 0, 0) : null;
    }

    // ---- Linux statx: struct statx is fixed-layout (include/uapi/linux/stat.h) ---------------------------

    private const int AtFdCwd = -100;
    private const uint StatxTypeAndInode = 0x0001 | 0x0100; // STATX_TYPE | STATX_INO
    private const int BufferBytes = 256;
    private const int ModeOffset = 28;       // u16 stx_mode
    private const int InodeOffset = 32;      // u64 stx_ino
    private const int DeviceMajorOffset = 136, DeviceMinorOffset = 140; // u32 stx_dev_major, stx_dev_minor
    internal const int ENOENT = 2, EACCES = 13, ENOTDIR = 20, ENAMETOOLONG = 36, ELOOP = 40;

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int Statx(int dirFd, string path, int flags, uint mask, byte* buffer);

    /// <summary>
    /// Asks Linux statx about <paramref name="path"/>: true when statx answered — with the status, or with null and
    /// the <paramref name="errno"/> it failed with (ENOENT: nothing there; ELOOP: a link loop; ...); false when
    /// statx is unavailable (a libc before glibc 2.28, a kernel before 4.11), and callers fall back to .NET's view.
    /// </summary>
    internal static unsafe bool TryStatx(string path, out PathStatus? status, out int errno)
    {
        status = null;
        errno = 0;
        byte* buffer = stackalloc byte[BufferBytes];
        int rc;
        try
        {
            rc = Statx(AtFdCwd, path, 0, StatxTypeAndInode, buffer); // flags 0: symbolic links are followed
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
        if (rc != 0)
        {
            errno = Marshal.GetLastPInvokeError();
            return errno != ENOSYS;
        }
        var kind = (*(ushort*)(buffer + ModeOffset) & 0xF000) switch
        {
            0x8000 => FileEntryKind.RegularFile,
            0x4000 => FileEntryKind.Directory,
            0x1000 => FileEntryKind.Fifo,
            0x2000 => FileEntryKind.CharacterDevice,
            0x6000 => FileEntryKind.BlockDevice,
            0xC000 => FileEntryKind.Socket,
            _ => FileEntryKind.Inaccessible, // a type no reader or writer handles
        };
        ulong device = ((ulong)*(uint*)(buffer + DeviceMajorOffset) << 32) | *(uint*)(buffer + DeviceMinorOffset);
        status = new PathStatus(kind, device, *(ulong*)(buffer + InodeOffset));
        return true;
    }

    private const int ENOSYS = 38;
}
