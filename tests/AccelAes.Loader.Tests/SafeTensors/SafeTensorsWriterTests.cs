using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.Tests.SafeTensors;

public sealed class SafeTensorsWriterTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Every_dtype_round_trips_byte_for_byte_in_the_given_order()
    {
        var random = new Random(31);
        var writer = new SafeTensorsWriter().AddMetadata("format", "pt").AddMetadata("by", "tests");
        var expected = new List<(string Name, SafeTensorDType DType, long[] Shape, byte[] Data)>();
        // Reverse declaration order, so "given order" differs from any sorted order.
        foreach (var dtype in SafeTensorDTypes.Supported.Reverse())
        {
            long[] shape = [2, random.Next(1, 5), 3];
            var data = new byte[shape.Aggregate(1L, (a, b) => a * b) * dtype.ByteSize()];
            random.NextBytes(data);
            var name = $"t.{dtype.HeaderName().ToLowerInvariant()}";
            writer.Add(name, dtype, shape, data);
            expected.Add((name, dtype, shape, data));
        }
        writer.Add("zero", SafeTensorDType.F32, [0, 5], Array.Empty<byte>());
        writer.Add("scalar", SafeTensorDType.I64, [], BitConverter.GetBytes(-7L));
        var path = _dir.File("all.safetensors");

        writer.Save(path);

        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(new Dictionary<string, string> { ["format"] = "pt", ["by"] = "tests" }, file.Metadata);
        Assert.Equal(expected.Select(e => e.Name).Concat(["zero", "scalar"]), file.Tensors.Select(t => t.Name));
        foreach (var (name, dtype, shape, data) in expected)
        {
            var tensor = file[name];
            Assert.Equal(dtype, tensor.DType);
            Assert.Equal(shape, tensor.Shape);
            Assert.Equal(data, file.GetBytes(tensor).ToArray());
        }
        Assert.Equal(-7L, BitConverter.ToInt64(file.GetBytes(file["scalar"])));
        Assert.Empty(Directory.GetFiles(_dir.Path, "*.tmp-*"));
    }

    [Fact]
    public void Header_is_space_padded_to_eight_bytes_and_data_follows_contiguously()
    {
        for (var nameLength = 1; nameLength <= 9; nameLength++)
        {
            var path = _dir.File($"pad{nameLength}.safetensors");
            new SafeTensorsWriter()
                .Add(new string('n', nameLength), SafeTensorDType.U8, [3], new byte[] { 1, 2, 3 })
                .Add("b", SafeTensorDType.I16, [1], new byte[] { 4, 5 })
                .Save(path);

            var bytes = File.ReadAllBytes(path);
            var headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
            Assert.Equal(0, headerLength % 8);
            var header = Encoding.UTF8.GetString(bytes, 8, headerLength);
            Assert.StartsWith("{", header);
            Assert.Equal(header.TrimEnd(' ').Length, header.TrimEnd().Length);
            Assert.EndsWith("}", header.TrimEnd(' '));
            Assert.Equal(new byte[] { 1, 2, 3, 4, 5 }, bytes[(8 + headerLength)..]);
        }
    }

    [Fact]
    public void Float_overloads_store_f32_exactly_and_round_bf16_and_f16_to_nearest_even()
    {
        var random = new Random(41);
        var values = Enumerable.Range(0, 301).Select(_ => (float)((random.NextDouble() - 0.5) * 1000)).ToArray();
        var path = _dir.File("floats.safetensors");

        new SafeTensorsWriter()
            .Add("f32", [301], values)
            .Add("bf16", [7, 43], values, SafeTensorDType.BF16)
            .Add("f16", [301], values, SafeTensorDType.F16)
            .Save(path);

        using var set = SafeTensorsSet.OpenFile(path);
        Assert.Equal(values, set.ReadAsFloat32("f32"));
        Assert.Equal(values.Select(v => DTypeConversion.BFloat16ToFloat32(DTypeConversion.Float32ToBFloat16(v))), set.ReadAsFloat32("bf16"));
        Assert.Equal(values.Select(v => (float)(Half)v), set.ReadAsFloat32("f16"));
        Assert.Equal(values.Select(DTypeConversion.Float32ToBFloat16), MemoryMarshal.Cast<byte, ushort>(set.GetBytes(set.Get("bf16"))).ToArray());
    }

    [Fact]
    public void Non_ascii_and_escaped_names_round_trip()
    {
        var path = _dir.File("names.safetensors");
        string[] names = ["café", "quote\"back\\slash", "tab\tnew\nline", "日本語", "<html>&'"];
        var writer = new SafeTensorsWriter();
        foreach (var name in names)
            writer.Add(name, SafeTensorDType.U8, [1], new byte[] { 9 });
        writer.Save(path);

        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(names, file.Tensors.Select(t => t.Name));
    }

    [Fact]
    public void Saving_replaces_an_existing_file_whole()
    {
        var path = _dir.File("replace.safetensors");
        new SafeTensorsWriter().Add("old", SafeTensorDType.U8, [100], new byte[100]).Save(path);
        new SafeTensorsWriter().Add("new", SafeTensorDType.U8, [2], new byte[] { 1, 2 }).Save(path);

        using var file = SafeTensorsFile.Open(path);
        Assert.Equal("new", Assert.Single(file.Tensors).Name);
        Assert.Single(Directory.GetFiles(_dir.Path));
    }

    [Fact]
    public void Failed_save_leaves_nothing_behind()
    {
        // The target is a directory, so the final rename fails after the data was written to the temporary file.
        var target = Directory.CreateDirectory(_dir.File("occupied")).FullName;
        var writer = new SafeTensorsWriter().Add("a", SafeTensorDType.U8, [1], new byte[] { 1 });

        var error = Assert.Throws<AccelAesException>(() => writer.Save(target));

        Assert.Contains(target, error.Message);
        Assert.Empty(Directory.GetFiles(_dir.Path));
        Assert.True(Directory.Exists(target));

    }

    [Fact]
    public void Saving_over_a_fifo_is_refused_and_leaves_it()
    {
        var fifo = SpecialFiles.Fifo(_dir.File("pipe"));
        var error = Assert.Throws<AccelAesException>(() => new SafeTensorsWriter().Add("a", SafeTensorDType.U8, [1], new byte[] { 1 }).Save(fifo, "--out"));
        Assert.Contains("--out", error.Message);
        Assert.Contains("named pipe", error.Message);
        Assert.Equal(["pipe"], Directory.GetFileSystemEntries(_dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void Saving_creates_missing_folders_on_the_way()
    {
        var nested = Path.Combine(_dir.Path, "no", "such", "x.safetensors");
        new SafeTensorsWriter().Add("a", SafeTensorDType.U8, [1], new byte[] { 1 }).Save(nested);
        Assert.Equal(["x.safetensors"], Directory.GetFiles(Path.GetDirectoryName(nested)!).Select(Path.GetFileName));
    }

    [Fact]
    public void Invalid_entries_are_rejected_when_added()
    {
        var writer = new SafeTensorsWriter().Add("a", SafeTensorDType.U8, [1], new byte[1]);
        Assert.Throws<ArgumentException>(() => writer.Add("a", SafeTensorDType.U8, [1], new byte[1]));
        Assert.Throws<ArgumentException>(() => writer.Add("__metadata__", SafeTensorDType.U8, [1], new byte[1]));
        Assert.Throws<ArgumentException>(() => writer.Add("b", SafeTensorDType.F32, [2], new byte[4]));
        Assert.Throws<ArgumentException>(() => writer.Add("c", SafeTensorDType.F32, [-1], new byte[0]));
        Assert.Throws<ArgumentException>(() => writer.Add("d", SafeTensorDType.U8, [long.MaxValue, 2], new byte[0]));
        // A rejected entry does not reserve its name.
        writer.Add("b", SafeTensorDType.F32, [1], new byte[4]);
        var path = _dir.File("ok.safetensors");
        writer.Save(path);
        using var file = SafeTensorsFile.Open(path);
        Assert.Equal(["a", "b"], file.Tensors.Select(t => t.Name));
    }
}
