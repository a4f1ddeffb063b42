using System.Text;

namespace AccelAes.Loader.Files;

/// <summary>
/// The one way the engine reads an input file (DESIGN.md §7: only regular files are read, with size limits).
/// The path's type is checked before anything is opened — a FIFO would block the open forever, /dev/zero would
/// be read forever — and a symbolic link is followed to its final target, a loop or broken link being named as
/// such. The size is checked against the caller's limit before reading, and the read itself stops at the limit,
/// so a file that grows meanwhile or lies about its size (/proc) cannot exhaust memory either.
/// </summary>
public static class InputFile
{
    /// <summary>
    /// True when anything is at <paramref name="path"/>, even a FIFO, a folder or a broken link. Readers of optional
    /// files ask this instead of <see cref="File.Exists(string?)"/>, so a special file in an optional file's place is
    /// reported by the read rather than silently skipped.
    /// </summary>
    public static bool Exists(string path) => KindOf(path) != FileEntryKind.Missing;

    /// <summary>What sits at <paramref name="path"/>, following symbolic links; nothing is opened.</summary>
    public static FileEntryKind KindOf(string path) => FileEntryProbe.KindOf(UserPath.Full(path, "The path"));

    /// <summary>
    /// Returns the full path when it names an existing regular file (through any symbolic links), else throws an
    /// <see cref="InputFileException"/> naming <paramref name="what"/> (e.g. "Config file"), the path and what is there.
    /// </summary>
    public static string RequireRegularFile(string path, string what)
    {
        string fullPath = UserPath.Full(path, what);
        FileEntryKind kind = FileEntryProbe.KindOf(fullPath);
        if (kind != FileEntryKind.RegularFile)
            throw new InputFileException(fullPath, kind, $"{what} '{fullPath}' {Describe(kind)}.");
        return fullPath;
    }

    /// <summary>The whole file, refused when it is not a regular file or is larger than <paramref name="maxBytes"/>.</summary>
    public static byte[] ReadAllBytes(string path, long maxBytes, string what)
    {
        string fullPath = RequireRegularFile(path, what);
        long length;
        try
        {
            length = new FileInfo(fullPath).Length;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Unreadable(fullPath, what, e);
        }

        if (length > maxBytes) throw TooLarge(fullPath, what, length, maxBytes);

        // A zero-length entry is never opened: where the type could not be probed, that is what a FIFO or a device reports.
        if (length == 0) return [];

        try
        {
            using var stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
            var buffer = new byte[length];
            int filled = 0;
            while (filled < buffer.Length)
            {
                int n = stream.Read(buffer, filled, buffer.Length - filled);
                if (n == 0) return buffer[..filled]; // shrank since it was measured
                filled += n;
            }

            if (stream.ReadByte() < 0) return buffer;
            throw new InputFileException(fullPath, FileEntryKind.RegularFile,
                $"{what} '{fullPath}' grew while it was being read (another process is writing it).");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Unreadable(fullPath, what, e);
        }
    }

    /// <summary>As <see cref="ReadAllBytes"/>, decoded as UTF-8 (a byte-order mark is dropped, as File.ReadAllText does).</summary>
    public static string ReadAllText(string path, long maxBytes, string what)
    {
        byte[] bytes = ReadAllBytes(path, maxBytes, what);
        ReadOnlySpan<byte> span = bytes;
        if (span.StartsWith("\uFEFF"u8)) span = span[3..];
        return Encoding.UTF8.GetString(span);
    }

    /// <summary>How an entry that is not a regular file is described in messages ("is a FIFO (named pipe), not a regular file").</summary>
    public static string Describe(FileEntryKind kind) => kind switch
    {
        FileEntryKind.Missing => "does not exist",
        FileEntryKind.RegularFile => "is a regular file",
        FileEntryKind.Directory => "is a folder, not a file",
        FileEntryKind.Fifo => "is a FIFO (named pipe), not a regular file; only regular files are read",
        FileEntryKind.CharacterDevice => "is a character device, not a regular file; only regular files are read",
        FileEntryKind.BlockDevice => "is a block device, not a regular file; only regular files are read",
        FileEntryKind.Socket => "is a socket, not a regular file; only regular files are read",
        FileEntryKind.SymlinkLoop => "is a symbolic link that loops (too many levels of symbolic links)",
        FileEntryKind.BrokenSymlink => "is a symbolic link to a file that does not exist",
        FileEntryKind.Inaccessible => "cannot be examined (permission denied, or not a file the engine can read)",
        _ => kind.ToString(),
    };

    private static InputFileException TooLarge(string fullPath, string what, long length, long maxBytes) =>
        new(fullPath, FileEntryKind.RegularFile,
            $"{what} '{fullPath}' has {length} bytes, more than the {maxBytes}-byte limit for such a file.");

    private static InputFileException Unreadable(string fullPath, string what, Exception e) =>
        new(fullPath, FileEntryKind.RegularFile, $"{what} '{fullPath}' cannot be read: {e.Message}", e);
}
