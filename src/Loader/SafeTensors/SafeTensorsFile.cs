using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.IO.MemoryMappedFiles;
using AccelAes.Loader.Files;

namespace AccelAes.Loader.SafeTensors;

/// <summary>
/// A safetensors file, memory-mapped read-only. <see cref="Open"/> validates the whole header against the file
/// (see <see cref="SafeTensorsProblem"/>) but reads no tensor data; tensor bytes are served straight from the
/// mapping, so opening a multi-gigabyte checkpoint costs only the header parse.
/// </summary>
/// <remarks>
/// Reads are thread-safe. Spans and pointers handed out are valid until <see cref="Dispose"/>; the file must not
/// be truncated by another process while it is open (the mapping would fault).
/// </remarks>
public sealed unsafe class SafeTensorsFile : IDisposable
{
    /// <summary>Largest header accepted, as in the reference implementation; checked before anything is parsed.</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private const int LengthPrefixBytes = sizeof(ulong);

    private readonly MemoryMappedFile _mapping;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    private readonly Dictionary<string, SafeTensorInfo> _byName;
    private bool _disposed;

    internal SafeTensorsFile(string path, long length, MemoryMappedFile mapping, MemoryMappedViewAccessor view,
        byte* @base, SafeTensorsHeaderParser.ParsedHeader header)
    {
        Path = path;
        FileLength = length;
        _mapping = mapping;
        _view = view;
        _base = @base;
        Metadata = header.Metadata;
        Tensors = header.TensorsByOffset;
        _byName = new Dictionary<string, SafeTensorInfo>(header.TensorsByOffset.Length, StringComparer.Ordinal);
        foreach (var tensor in header.TensorsByOffset)
            _byName.Add(tensor.Name, tensor);
    }

    /// <summary>Full path of the file.</summary>
    public string Path { get; }

    /// <summary>Size of the file in bytes.</summary>
    public long FileLength { get; }

    /// <summary>The header's <c>__metadata__</c> map; empty when the header has none.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Every tensor, sorted by position in the file.</summary>
    public IReadOnlyList<SafeTensorInfo> Tensors { get; }

    /// <summary>Opens, maps and validates a safetensors file.</summary>
    /// <exception cref="SafeTensorsFormatException">The file is missing, unreadable or not a valid safetensors file.</exception>
    public static SafeTensorsFile Open(string path)
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("safetensors data is little-endian; big-endian hosts are not supported.");

        var fullPath = UserPath.Full(path, "The safetensors file");
        // The type is checked before anything is opened: a FIFO would block the open, a device would map garbage.
        switch (InputFile.KindOf(fullPath))
        {
            case FileEntryKind.RegularFile:
                break;
            case FileEntryKind.Directory:
                throw new SafeTensorsFormatException(SafeTensorsProblem.NotAFile, fullPath, null, "the path is a directory.");
            case FileEntryKind.Missing:
                throw new SafeTensorsFormatException(SafeTensorsProblem.FileNotFound, fullPath, null, "the file does not exist.");
            case var other:
                throw new SafeTensorsFormatException(SafeTensorsProblem.NotAFile, fullPath, null, $"the path {InputFile.Describe(other)}.");
        }

        // Checked before opening: a zero-length file cannot be mapped, and a FIFO (whose size reads as 0)
        // would block the open until some other process writes to it.
        if (new FileInfo(fullPath).Length == 0)
            throw EmptyFile(fullPath);

        FileStream stream;
        try
        {
            stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new SafeTensorsFormatException(SafeTensorsProblem.FileNotFound, fullPath, null, "the file does not exist.", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SafeTensorsFormatException(SafeTensorsProblem.Unreadable, fullPath, null, e.Message, e);
        }

        MemoryMappedFile? mapping = null;
        MemoryMappedViewAccessor? view = null;
        var pointerAcquired = false;
        try
        {
            var length = stream.Length;
            if (length == 0)
                throw EmptyFile(fullPath);
            if (length < LengthPrefixBytes)
                throw new SafeTensorsFormatException(SafeTensorsProblem.Truncated, fullPath, null,
                    $"the file has {length} bytes, fewer than the 8-byte header length prefix.");

            try
            {
                mapping = MemoryMappedFile.CreateFromFile(stream, mapName: null, capacity: 0,
                    MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
                view = mapping.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new SafeTensorsFormatException(SafeTensorsProblem.Unreadable, fullPath, null,
                    $"the file cannot be memory-mapped: {e.Message}", e);
            }

            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            pointerAcquired = true;
            pointer += view.PointerOffset;

            var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(new ReadOnlySpan<byte>(pointer, LengthPrefixBytes));
            if (headerLength > MaxHeaderBytes)
                throw new SafeTensorsFormatException(SafeTensorsProblem.HeaderTooLarge, fullPath, null,
                    $"the header length prefix declares {headerLength} bytes, more than the {MaxHeaderBytes}-byte limit "
                    + $"(the file has {length} bytes).");
            if ((long)headerLength > length - LengthPrefixBytes)
                throw new SafeTensorsFormatException(SafeTensorsProblem.HeaderPastEnd, fullPath, null,
                    $"the header length prefix declares {headerLength} bytes, but only {length - LengthPrefixBytes} "
                    + "bytes follow it.");

            var dataStart = LengthPrefixBytes + (long)headerLength;
            var header = SafeTensorsHeaderParser.Parse(
                new ReadOnlySpan<byte>(pointer + LengthPrefixBytes, (int)headerLength), fullPath, dataStart, length - dataStart);
            return new SafeTensorsFile(fullPath, length, mapping, view, pointer, header);
        }
        catch
        {
            if (pointerAcquired) view!.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            mapping?.Dispose();
            stream.Dispose();
            throw;
        }
    }

    private static SafeTensorsFormatException EmptyFile(string path) =>
        new(SafeTensorsProblem.EmptyFile, path, null, "the file is empty (0 bytes) or is not a regular file.");

    /// <summary>Looks a tensor up by its exact name.</summary>
    public bool TryGet(string name, [MaybeNullWhen(false)] out SafeTensorInfo info) => _byName.TryGetValue(name, out info);

    /// <summary>Whether the file holds a tensor of that exact name.</summary>
    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>The tensor of that exact name.</summary>
    /// <exception cref="MissingTensorException">No such tensor; the message lists the closest names.</exception>
    public SafeTensorInfo this[string name] =>
        _byName.TryGetValue(name, out var info)
            ? info
            : throw new MissingTensorException(name, Path, TensorNameSuggestions.Closest(name, _byName.Keys));

    /// <summary>The tensor's bytes, without copying.</summary>
    /// <exception cref="InvalidOperationException">
    /// The tensor is larger than a span can address (int.MaxValue bytes); use
    /// <see cref="GetBytes(SafeTensorInfo, long, int)"/> or <see cref="GetPointer"/>.
    /// </exception>
    public ReadOnlySpan<byte> GetBytes(SafeTensorInfo tensor)
    {
        CheckOwned(tensor);
        if (tensor.ByteLength > int.MaxValue)
            throw new InvalidOperationException(
                $"Tensor {SafeTensorsFormatException.QuoteForMessage(tensor.Name)} in '{Path}' has {tensor.ByteLength} bytes, "
                + "more than one span can hold; read it in chunks with GetBytes(tensor, offset, length) or use GetPointer.");
        return new ReadOnlySpan<byte>(_base + tensor.FileOffset, (int)tensor.ByteLength);
    }

    /// <summary>A slice of the tensor's bytes, without copying: <paramref name="length"/> bytes from <paramref name="offset"/>.</summary>
    public ReadOnlySpan<byte> GetBytes(SafeTensorInfo tensor, long offset, int length)
    {
        CheckOwned(tensor);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (offset > tensor.ByteLength - length)
            throw new ArgumentOutOfRangeException(nameof(length),
                $"Bytes [{offset}, {offset + length}) lie outside tensor '{tensor.Name}' ({tensor.ByteLength} bytes).");
        return new ReadOnlySpan<byte>(_base + tensor.FileOffset + offset, length);
    }

    /// <summary>
    /// Address of the tensor's first byte in the mapping, for bulk copies (e.g. to the GPU) of
    /// <see cref="SafeTensorInfo.ByteLength"/> bytes. Valid until <see cref="Dispose"/>; not aligned in general.
    /// </summary>
    public byte* GetPointer(SafeTensorInfo tensor)
    {
        CheckOwned(tensor);
        return _base + tensor.FileOffset;
    }

    /// <summary>Unmaps the file. Spans and pointers obtained earlier must no longer be used.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _mapping.Dispose();
    }

    private void CheckOwned(SafeTensorInfo tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_byName.TryGetValue(tensor.Name, out var own) || !ReferenceEquals(own, tensor))
            throw new ArgumentException(
                $"Tensor '{tensor.Name}' from '{tensor.FilePath}' does not belong to '{Path}'.", nameof(tensor));
    }
}
