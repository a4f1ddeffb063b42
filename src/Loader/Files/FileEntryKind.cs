namespace AccelAes.Loader.Files;

/// <summary>What sits at a path, found without opening it (opening a FIFO for reading blocks until a writer comes).</summary>
public enum FileEntryKind
{
    /// <summary>Nothing at the path (or a folder on the way is missing).</summary>
    Missing,

    RegularFile,
    Directory,

    /// <summary>A named pipe: reading it blocks until another process writes.</summary>
    Fifo,

    /// <summary>A character device such as /dev/zero or /dev/tty: endless or interactive.</summary>
    CharacterDevice,

    BlockDevice,
    Socket,

    /// <summary>A symbolic link whose chain loops or is too long to follow.</summary>
    SymlinkLoop,

    /// <summary>A symbolic link whose target does not exist.</summary>
    BrokenSymlink,

    /// <summary>The path exists but cannot be examined (permission denied on a folder, a name too long).</summary>
    Inaccessible,
}
