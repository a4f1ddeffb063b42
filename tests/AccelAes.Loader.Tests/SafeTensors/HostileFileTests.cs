using System.Buffers.Binary;
using AccelAes.Loader.SafeTensors;
using static AccelAes.Loader.Tests.SafeTensors.RawFile;

namespace AccelAes.Loader.Tests.SafeTensors;

public sealed class HostileFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    public static TheoryData<string, string, int, SafeTensorsProblem, string?> BadHeaders => new()
    {
        // label, header, data bytes, expected problem, tensor named in the error
        { "unterminated", "{\"a\":", 0, SafeTensorsProblem.InvalidJson, null },
        { "garbage", "hello", 0, SafeTensorsProblem.InvalidJson, null },
        { "leading space", " {}", 0, SafeTensorsProblem.InvalidJson, null },
        { "trailing garbage", "{} x", 0, SafeTensorsProblem.InvalidJson, null },
        { "two objects", "{}{}", 0, SafeTensorsProblem.InvalidJson, null },
        { "comment", "{/*c*/}", 0, SafeTensorsProblem.InvalidJson, null },
        { "trailing comma", "{" + Entry("a", "U8", [1], 0, 1) + ",}", 1, SafeTensorsProblem.InvalidJson, null },
        { "array root", "[1,2]", 0, SafeTensorsProblem.NotAnObject, null },
        { "string root", "\"x\"", 0, SafeTensorsProblem.NotAnObject, null },
        { "entry is array", "{\"a\":[1]}", 0, SafeTensorsProblem.EntryNotAnObject, "a" },
        { "entry is number", "{\"a\":3}", 0, SafeTensorsProblem.EntryNotAnObject, "a" },
        { "no dtype", "{\"a\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1, SafeTensorsProblem.MissingField, "a" },
        { "no shape", "{\"a\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", 1, SafeTensorsProblem.MissingField, "a" },
        { "no offsets", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1, SafeTensorsProblem.MissingField, "a" },
        { "dtype number", "{\"a\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,1]}}", 1, SafeTensorsProblem.InvalidField, "a" },
        { "shape string", "{\"a\":{\"dtype\":\"U8\",\"shape\":\"1\",\"data_offsets\":[0,1]}}", 1, SafeTensorsProblem.InvalidField, "a" },
        { "shape fraction", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1.5],\"data_offsets\":[0,1]}}", 1, SafeTensorsProblem.InvalidField, "a" },
        { "shape nested", "{\"a\":{\"dtype\":\"U8\",\"shape\":[[1]],\"data_offsets\":[0,1]}}", 1, SafeTensorsProblem.InvalidField, "a" },
        { "shape huge dim", "{\"a\":{\"dtype\":\"U8\",\"shape\":[99999999999999999999],\"data_offsets\":[0,1]}}", 1, SafeTensorsProblem.InvalidField, "a" },
        { "offsets one", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1]}}", 1, SafeTensorsProblem.InvalidField, "a" },
        { "offsets three", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}", 1, SafeTensorsProblem.InvalidField, "a" },
        { "offsets string", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":\"0,1\"}}", 1, SafeTensorsProblem.InvalidField, "a" },
        { "offsets null entry", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,null]}}", 1, SafeTensorsProblem.InvalidField, "a" },
        { "dtype twice", "{\"a\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, SafeTensorsProblem.InvalidField, "a" },
        { "unknown dtype", "{" + Entry("a", "F128", [1], 0, 16) + "}", 16, SafeTensorsProblem.UnknownDType, "a" },
        { "lower-case dtype", "{" + Entry("a", "f32", [1], 0, 4) + "}", 4, SafeTensorsProblem.UnknownDType, "a" },
        { "sub-byte dtype", "{" + Entry("a", "F4", [2], 0, 1) + "}", 1, SafeTensorsProblem.UnknownDType, "a" },
        { "negative dim", "{" + Entry("a", "F32", [2, -1], 0, 0) + "}", 0, SafeTensorsProblem.NegativeDimension, "a" },
        { "element overflow", "{" + Entry("a", "U8", [4294967296, 4294967296], 0, 1) + "}", 1, SafeTensorsProblem.ElementCountOverflow, "a" },
        { "byte overflow", "{" + Entry("a", "F64", [2305843009213693952], 0, 1) + "}", 1, SafeTensorsProblem.ElementCountOverflow, "a" },
        { "bytes mismatch", "{" + Entry("a", "F32", [2], 0, 4) + "}", 4, SafeTensorsProblem.ByteLengthMismatch, "a" },
        { "reversed offsets", "{" + Entry("a", "U8", [0], 8, 0) + "}", 8, SafeTensorsProblem.InvalidOffsets, "a" },
        { "negative offset", "{" + Entry("a", "U8", [1], -1, 0) + "}", 0, SafeTensorsProblem.InvalidOffsets, "a" },
        { "past data", "{" + Entry("a", "U8", [16], 0, 16) + "}", 8, SafeTensorsProblem.OffsetsOutOfRange, "a" },
        { "offset beyond u63", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,18446744073709551615]}}", 1, SafeTensorsProblem.OffsetsOutOfRange, "a" },
        { "overlap", "{" + Entry("a", "U8", [8], 0, 8) + "," + Entry("b", "U8", [8], 4, 12) + "}", 12, SafeTensorsProblem.OverlappingTensors, "b" },
        { "empty inside other", "{" + Entry("a", "U8", [8], 0, 8) + "," + Entry("b", "U8", [0], 4, 4) + "}", 8, SafeTensorsProblem.OverlappingTensors, "b" },
        { "gap", "{" + Entry("a", "U8", [4], 0, 4) + "," + Entry("b", "U8", [4], 8, 12) + "}", 12, SafeTensorsProblem.DataGap, "b" },
        { "gap at start", "{" + Entry("a", "U8", [4], 4, 8) + "}", 8, SafeTensorsProblem.DataGap, "a" },
        { "trailing bytes", "{" + Entry("a", "U8", [4], 0, 4) + "}", 8, SafeTensorsProblem.TrailingBytes, null },
        { "data without tensors", "{}", 8, SafeTensorsProblem.TrailingBytes, null },
        { "duplicate name", "{" + Entry("a", "U8", [1], 0, 1) + "," + Entry("a", "U8", [1], 1, 2) + "}", 2, SafeTensorsProblem.DuplicateName, "a" },
        { "duplicate metadata", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, SafeTensorsProblem.DuplicateName, null },
        { "metadata array", "{\"__metadata__\":[]}", 0, SafeTensorsProblem.InvalidMetadata, null },
        { "metadata number value", "{\"__metadata__\":{\"format\":1}}", 0, SafeTensorsProblem.InvalidMetadata, null },
        { "metadata nested", "{\"__metadata__\":{\"format\":{\"x\":\"y\"}}}", 0, SafeTensorsProblem.InvalidMetadata, null },
        { "metadata duplicate key", "{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, SafeTensorsProblem.InvalidMetadata, null },
        { "deep nesting", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":" + new string('[', 5000) + new string(']', 5000) + "}}", 1, SafeTensorsProblem.InvalidJson, null },
    };

    [Theory]
    [MemberData(nameof(BadHeaders))]
    public void Bad_header_is_reported_with_its_problem_file_and_tensor(
        string label, string header, int dataLength, SafeTensorsProblem problem, string? tensor)
    {
        var path = _dir.Write("bad.safetensors", Build(header, dataLength));

        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Open(path));

        Assert.True(problem == error.Problem, $"{label}: expected {problem}, got {error.Problem}: {error.Message}");
        Assert.Equal(path, error.FilePath);
        Assert.Contains(path, error.Message);
        Assert.Equal(tensor, error.TensorName);
        if (tensor is not null)
            Assert.Contains($"'{tensor}'", error.Message);
    }

    [Fact]
    public void Invalid_utf8_header_is_invalid_json()
    {
        var header = "{\"a\u00e9\":{}}"u8.ToArray();
        header[3] = 0xFF; // break the two-byte sequence of 'é'
        var path = _dir.Write("utf8.safetensors", Build(header, 0));

        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Open(path));

        Assert.Equal(SafeTensorsProblem.InvalidJson, error.Problem);
        Assert.Contains("UTF-8", error.Message);
    }

    [Fact]
    public void Missing_file_is_reported()
    {
        var path = _dir.File("absent.safetensors");
        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Open(path));
        Assert.Equal(SafeTensorsProblem.FileNotFound, error.Problem);
        Assert.Contains(path, error.Message);
    }

    [Fact]
    public void Directory_is_reported_as_not_a_file()
    {
        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Open(_dir.Path));
        Assert.Equal(SafeTensorsProblem.NotAFile, error.Problem);
        Assert.Contains(_dir.Path, error.Message);
    }

    [Fact]
    public void Zero_length_file_is_reported_as_empty()
    {
        var path = _dir.Write("empty.safetensors", []);
        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Open(path));
        Assert.Equal(SafeTensorsProblem.EmptyFile, error.Problem);
        Assert.Contains(path, error.Message);
    }

    [Fact]
    public async Task Fifo_is_refused_without_blocking()
    {
        if (OperatingSystem.IsWindows())
            return;
        var path = _dir.File("pipe.safetensors");
        Assert.Equal(0, MakeFifo(path, 0x180 /* 0600 */));

        var open = Task.Run(() => Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Open(path)));

        Assert.Same(open, await Task.WhenAny(open, Task.Delay(TimeSpan.FromSeconds(10))));
        // The type is found without opening (InputFile), so the FIFO is named as one rather than read as empty.
        var error = await open;
        Assert.Equal(SafeTensorsProblem.NotAFile, error.Problem);
        Assert.Contains("FIFO", error.Message);
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "mkfifo", SetLastError = true)]
    private static extern int MakeFifo(string path, uint mode);

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    public void File_shorter_than_length_prefix_is_truncated(int length)
    {
        var path = _dir.Write("short.safetensors", new byte[length]);
        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Open(path));
        Assert.Equal(SafeTensorsProblem.Truncated, error.Problem);
        Assert.Contains($"{length} bytes", error.Message);
    }

    [Theory]
    [InlineData(100_000_001UL)]
    [InlineData(ulong.MaxValue)]
    [InlineData(1UL << 63)]
    public void Oversized_header_is_refused_before_it_is_read(ulong declared)
    {
        var path = _dir.Write("huge.safetensors", Build("{}", 0, declaredHeaderLength: declared));

        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Open(path));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;

        Assert.Equal(SafeTensorsProblem.HeaderTooLarge, error.Problem);
        Assert.Contains(declared.ToString(), error.Message);
        Assert.True(allocated < 1_000_000, $"opening allocated {allocated} bytes");
    }

    [Fact]
    public void Header_as_large_as_the_limit_but_longer_than_the_file_runs_past_the_end()
    {
        var path = _dir.Write("pastend.safetensors", Build("{}", 0, declaredHeaderLength: 100_000_000));
        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Open(path));
        Assert.Equal(SafeTensorsProblem.HeaderPastEnd, error.Problem);
    }

    [Theory]
    [InlineData(3UL)]
    [InlineData(100UL)]
    public void Header_length_past_end_of_file_is_reported(ulong declared)
    {
        var path = _dir.Write("pastend.safetensors", Build("{}", 0, declaredHeaderLength: declared));
        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Open(path));
        Assert.Equal(SafeTensorsProblem.HeaderPastEnd, error.Problem);
        Assert.Contains(declared.ToString(), error.Message);
    }

    [Fact]
    public void Zero_header_length_is_invalid_json()
    {
        var bytes = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 0);
        var path = _dir.Write("zero.safetensors", bytes);
        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Open(path));
        Assert.Equal(SafeTensorsProblem.InvalidJson, error.Problem);
    }

    [Fact]
    public void Overlap_message_names_both_tensors()
    {
        var header = "{" + Entry("first", "U8", [8], 0, 8) + "," + Entry("second", "U8", [8], 4, 12) + "}";
        var path = _dir.Write("overlap.safetensors", Build(header, 12));
        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Open(path));
        Assert.Contains("'first'", error.Message);
        Assert.Contains("'second'", error.Message);
    }

    [Fact]
    public void Huge_hostile_name_is_shortened_in_the_message_but_kept_in_the_property()
    {
        var name = new string('x', 10_000);
        var path = _dir.Write("longname.safetensors", Build("{" + Entry(name, "F32", [2], 0, 4) + "}", 4));
        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Open(path));
        Assert.Equal(name, error.TensorName);
        Assert.True(error.Message.Length < 1_000, error.Message);
    }
}
