using System.IO.MemoryMappedFiles;
using AccelAes.Loader.Files;
using AccelAes.Loader.SafeTensors;
using AccelAes.Loader.Validation;

namespace AccelAes.Loader.PyTorch;

/// <summary>
/// A PyTorch checkpoint written by <c>torch.save</c> (PyTorch ≥ 1.6: a zip of <c>&lt;archive&gt;/data.pkl</c>,
/// <c>&lt;archive&gt;/byteorder</c>, <c>&lt;archive&gt;/data/&lt;key&gt;</c> storage records and
/// <c>&lt;archive&gt;/version</c>), memory-mapped read-only. The pickle is read as <c>torch.load(weights_only=True)</c>
/// reads it (<see cref="WeightsOnlyUnpickler"/>): a pickle that names anything but tensors, storages and containers is
/// refused, never executed. Tensor bytes are served straight from the mapping — torch.save stores records
/// uncompressed — so opening costs the pickle parse only, and no tensor is copied.
/// </summary>
/// <remarks>
/// Not read: the legacy format of PyTorch &lt; 1.6 (a bare pickle stream followed by raw storages; refused with
/// <see cref="PyTorchCheckpointProblem.LegacyFormat"/>), big-endian files, and non-contiguous tensors (a transposed or
/// sliced view saved as such), which are refused naming the tensor rather than copied.
/// </remarks>
public sealed class PyTorchCheckpoint : IDisposable
{
    private static readonly string[] Extensions = [".pt", ".pth", ".bin", ".ckpt"];

    private PyTorchCheckpoint(SafeTensorsFile tensors, PyTorchTensorInfo[] infos)
    {
        TensorFile = tensors;
        Tensors = infos;
    }

    /// <summary>Full path of the file.</summary>
    public string Path => TensorFile.Path;

    /// <summary>Every tensor, in state-dict order.</summary>
    public IReadOnlyList<PyTorchTensorInfo> Tensors { get; }

    /// <summary>
    /// The same tensors seen as a mapped tensor file, the form weight loading and <see cref="SafeTensorsSet"/> use:
    /// each tensor's bytes are the same file range as in <see cref="Tensors"/>.
    /// </summary>
    public SafeTensorsFile TensorFile { get; }

    /// <summary>The tensor's bytes, without copying (valid until <see cref="Dispose"/>).</summary>
    public ReadOnlySpan<byte> GetBytes(string name) => TensorFile.GetBytes(TensorFile[name]);

    /// <summary>
    /// Whether <paramref name="path"/> should be read as a PyTorch checkpoint rather than as safetensors: a
    /// <c>.pt</c>/<c>.pth</c>/<c>.bin</c>/<c>.ckpt</c> name, or a regular file not named <c>.safetensors</c> that starts
    /// like a zip archive or like the legacy format (pickle protocol 2 opening with the LONG1 magic number).
    /// </summary>
    public static bool IsPyTorchFile(string path)
    {
        if (Extensions.Any(e => path.EndsWith(e, StringComparison.OrdinalIgnoreCase)))
            return true;
        // A safetensors file starts with its header length, whose low bytes can be anything: never sniff those.
        if (path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) || InputFile.KindOf(path) != FileEntryKind.RegularFile)
            return false;
        Span<byte> head = stackalloc byte[4];
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
            if (stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false) < head.Length)
                return false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
        return head.SequenceEqual("PK\x03\x04"u8) || head[..3].SequenceEqual(new byte[] { 0x80, 0x02, 0x8a });
    }

    /// <summary>Opens, maps and validates a checkpoint.</summary>
    /// <exception cref="PyTorchCheckpointException">The file is not a checkpoint this reader accepts; the message says why.</exception>
    /// <exception cref="InputFileException">The path is missing or not a regular file.</exception>
    public static PyTorchCheckpoint Open(string path)
    {
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("PyTorch checkpoints are read on little-endian hosts only.");
        var fullPath = InputFile.RequireRegularFile(path, "PyTorch checkpoint");
        var stream = OpenStream(fullPath);
        MemoryMappedFile? mapping = null;
        MemoryMappedViewAccessor? view = null;
        var pointerAcquired = false;
        try
        {
            var length = stream.Length;
            if (length == 0)
                throw new PyTorchCheckpointException(PyTorchCheckpointProblem.Unreadable, fullPath, "the file is empty.");
            try
            {
                mapping = MemoryMappedFile.CreateFromFile(stream, mapName: null, capacity: 0, MemoryMappedFileAccess.Read,
                    HandleInheritability.None, leaveOpen: false);
                view = mapping.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new PyTorchCheckpointException(PyTorchCheckpointProblem.Unreadable, fullPath,
                    $"the file cannot be memory-mapped: {e.Message}", e);
            }
            unsafe
            {
                byte* pointer = null;
                view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
                pointerAcquired = true;
                pointer += view.PointerOffset;
                var infos = TorchZipLayout.Read(pointer, length, fullPath);
                var header = new SafeTensorsHeaderParser.ParsedHeader(
                    new Dictionary<string, string>(), infos.Select(i => ToSafeTensorInfo(i, fullPath)).OrderBy(t => t.FileOffset).ToArray());
                return new PyTorchCheckpoint(new SafeTensorsFile(fullPath, length, mapping, view, pointer, header), infos);
            }
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

    /// <summary>Unmaps the file.</summary>
    public void Dispose() => TensorFile.Dispose();

    private static FileStream OpenStream(string fullPath)
    {
        try
        {
            return new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PyTorchCheckpointException(PyTorchCheckpointProblem.Unreadable, fullPath, e.Message, e);
        }
    }

    private static SafeTensorInfo ToSafeTensorInfo(PyTorchTensorInfo info, string path) =>
        new(info.Name, info.DType, info.Shape.ToArray(), info.ElementCount, info.ByteLength, info.FileOffset, path);
}
