using System.Buffers.Binary;
using System.Text;
using AccelAes.Loader.SafeTensors;
using static AccelAes.Loader.Tests.SafeTensors.RawFile;

namespace AccelAes.Loader.Tests.SafeTensors;

public sealed class SafeTensorsFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Reads_names_dtypes_shapes_offsets_and_bytes()
    {
        // Written out of offset order on purpose: Tensors must come back sorted by offset.
        var header = "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"ü\"}," + Entry("b", "I16", [3], 8, 14) + ","
            + Entry("a", "F32", [2], 0, 8) + "," + Entry("c", "U8", [1, 2], 14, 16) + "}";
        var bytes = Build(header, 16);
        var path = _dir.Write("ok.safetensors", bytes);
        var dataStart = 8 + Encoding.UTF8.GetByteCount(header);

        using var file = SafeTensorsFile.Open(path);

        Assert.Equal(path, file.Path);
        Assert.Equal(bytes.Length, file.FileLength);
        Assert.Equal(new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ü" }, file.Metadata);
        Assert.Equal(["a", "b", "c"], file.Tensors.Select(t => t.Name));
        var b = file["b"];
        Assert.Equal(SafeTensorDType.I16, b.DType);
        Assert.Equal([3L], b.Shape);
        Assert.Equal(3, b.ElementCount);
        Assert.Equal(6, b.ByteLength);
        Assert.Equal(dataStart + 8, b.FileOffset);
        Assert.Equal(path, b.FilePath);
        Assert.Equal(bytes.AsSpan(dataStart + 8, 6), file.GetBytes(b));
        Assert.Equal(bytes.AsSpan(dataStart + 10, 3), file.GetBytes(b, 2, 3));
        Assert.Equal([1L, 2L], file["c"].Shape);
        Assert.Equal("c U8 [1, 2]", file["c"].ToString());
        Assert.True(file.TryGet("a", out var a));
        Assert.Equal(SafeTensorDType.F32, a.DType);
        Assert.False(file.TryGet("z", out _));
        Assert.True(file.Contains("c"));
    }

    [Fact]
    public unsafe void Pointer_addresses_the_same_bytes_as_the_span()
    {
        var path = _dir.Write("p.safetensors", Build("{" + Entry("a", "U8", [5], 0, 5) + "}", 5));
        using var file = SafeTensorsFile.Open(path);
        var tensor = file["a"];

        var pointer = file.GetPointer(tensor);

        Assert.Equal(file.GetBytes(tensor), new ReadOnlySpan<byte>(pointer, 5));
    }

    [Fact]
    public void Zero_element_tensors_scalars_and_empty_files_are_legal()
    {
        var header = "{" + Entry("empty", "F32", [0, 3], 0, 0) + "," + Entry("scalar", "F32", [], 0, 4) + ","
            + Entry("also_empty", "BF16", [4294967296, 0, 4294967296], 4, 4) + "}";
        var path = _dir.Write("z.safetensors", Build(header, 4));

        using var file = SafeTensorsFile.Open(path);

        Assert.Equal(0, file["empty"].ElementCount);
        Assert.Equal(0, file.GetBytes(file["empty"]).Length);
        Assert.Equal(1, file["scalar"].ElementCount);
        Assert.Equal(0, file["scalar"].Rank);
        Assert.Equal(0, file["also_empty"].ByteLength);
        Assert.Empty(file.Metadata);

        using var nothing = SafeTensorsFile.Open(_dir.Write("none.safetensors", Build("{}", 0)));
        Assert.Empty(nothing.Tensors);
    }

    [Fact]
    public void Null_metadata_and_unknown_entry_fields_are_accepted_as_the_reference_reader_does()
    {
        var header = "{\"__metadata__\":null,\"a\":{\"dtype\":\"U8\",\"extra\":{\"x\":[1,2]},\"shape\":[2],\"data_offsets\":[0,2]}}    ";
        using var file = SafeTensorsFile.Open(_dir.Write("n.safetensors", Build(header, 2)));
        Assert.Empty(file.Metadata);
        Assert.Equal(2, file["a"].ByteLength);
    }

    [Fact]
    public void Escaped_and_unicode_names_are_decoded()
    {
        var header = "{\"caf\\u00e9.w\\\"q\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},\"日本\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}";
        using var file = SafeTensorsFile.Open(_dir.Write("u.safetensors", Build(header, 2)));
        Assert.True(file.Contains("café.w\"q"));
        Assert.True(file.Contains("日本"));
    }

    [Fact]
    public void Missing_name_lists_close_names()
    {
        var header = "{" + Entry("blocks.0.weight", "U8", [1], 0, 1) + "," + Entry("blocks.1.weight", "U8", [1], 1, 2) + "}";
        using var file = SafeTensorsFile.Open(_dir.Write("m.safetensors", Build(header, 2)));

        var error = Assert.Throws<MissingTensorException>(() => file["block.0.weight"]);

        Assert.Equal("blocks.0.weight", error.Suggestions[0]);
        Assert.Contains(file.Path, error.Message);
    }

    [Fact]
    public void Tensor_of_another_file_is_rejected()
    {
        var bytes = Build("{" + Entry("a", "U8", [1], 0, 1) + "}", 1);
        using var one = SafeTensorsFile.Open(_dir.Write("one.safetensors", bytes));
        using var two = SafeTensorsFile.Open(_dir.Write("two.safetensors", bytes));

        Assert.Throws<ArgumentException>(() => two.GetBytes(one["a"]));
    }

    [Fact]
    public void Slice_outside_the_tensor_is_rejected()
    {
        using var file = SafeTensorsFile.Open(_dir.Write("s.safetensors", Build("{" + Entry("a", "U8", [4], 0, 4) + "}", 4)));
        var a = file["a"];
        Assert.Throws<ArgumentOutOfRangeException>(() => file.GetBytes(a, 2, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => file.GetBytes(a, -1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => file.GetBytes(a, 0, -1));
        Assert.Equal(0, file.GetBytes(a, 4, 0).Length);
    }

    [Fact]
    public void Use_after_dispose_throws()
    {
        var file = SafeTensorsFile.Open(_dir.Write("d.safetensors", Build("{" + Entry("a", "U8", [1], 0, 1) + "}", 1)));
        var a = file["a"];
        file.Dispose();
        file.Dispose();
        Assert.Throws<ObjectDisposedException>(() => file.GetBytes(a).Length);
    }

    [Fact]
    public void Tensor_over_two_gigabytes_opens_instantly_and_is_read_in_chunks()
    {
        // A sparse file: 3 GiB of data that occupies no disk, proving Open reads only the header.
        const long size = 3L << 30;
        var header = Encoding.UTF8.GetBytes("{" + Entry("big", "U8", [size], 0, size) + "}");
        var path = _dir.File("big.safetensors");
        using (var stream = new FileStream(path, FileMode.CreateNew))
        {
            Span<byte> prefix = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)header.Length);
            stream.Write(prefix);
            stream.Write(header);
            stream.SetLength(8 + header.Length + size);
            stream.Position = stream.Length - 1;
            stream.WriteByte(42);
        }

        using var file = SafeTensorsFile.Open(path);
        var big = file["big"];

        Assert.Equal(size, big.ByteLength);
        var error = Assert.Throws<InvalidOperationException>(() => file.GetBytes(big).Length);
        Assert.Contains("'big'", error.Message);
        Assert.Equal(42, file.GetBytes(big, size - 1, 1)[0]);
        Assert.Equal(0, file.GetBytes(big, size - 4096, 4095)[100]);
    }
}
