using System.Text.Json;
using AccelAes.Loader.PyTorch;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.Tests.PyTorch;

/// <summary>
/// Reads the torch.save-format files of Data/ (written without torch by make_torch_checkpoints.py) and compares every
/// tensor with the <c>.expected.json</c> the generator wrote beside it.
/// </summary>
public sealed class PyTorchCheckpointTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    internal static string DataFile(string name) => Path.Combine(AppContext.BaseDirectory, "PyTorch", "Data", name);

    [Theory]
    [InlineData("state_dict.pt")]
    [InlineData("state_dict_protocol4.pt")]
    [InlineData("nested.pth")]
    public void Every_tensor_matches_what_the_generator_wrote(string file)
    {
        var expected = JsonDocument.Parse(File.ReadAllText(DataFile(file + ".expected.json"))).RootElement.EnumerateArray().ToList();
        using var checkpoint = PyTorchCheckpoint.Open(DataFile(file));
        using var set = SafeTensorsSet.OpenFile(DataFile(file));

        Assert.Equal(expected.Select(e => e.GetProperty("name").GetString()), checkpoint.Tensors.Select(t => t.Name));
        foreach (var want in expected)
        {
            var name = want.GetProperty("name").GetString()!;
            var info = checkpoint.Tensors.Single(t => t.Name == name);
            Assert.Equal(want.GetProperty("dtype").GetString(), info.DType.HeaderName());
            Assert.Equal(want.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()), info.Shape);
            var values = want.GetProperty("values").EnumerateArray().ToList();
            if (info.DType is SafeTensorDType.I64 or SafeTensorDType.Bool)
                Assert.Equal(values.Select(v => v.ValueKind == JsonValueKind.True ? 1L : v.ValueKind == JsonValueKind.False ? 0L : v.GetInt64()),
                    set.ReadAsInt64(name));
            else
                Assert.Equal(values.Select(v => (float)v.GetDouble()), set.ReadAsFloat32(name));
        }
    }

    [Fact]
    public void Views_of_one_storage_keep_their_offsets_and_strides()
    {
        using var checkpoint = PyTorchCheckpoint.Open(DataFile("state_dict.pt"));
        var first = checkpoint.Tensors.Single(t => t.Name == "tied.first");
        var second = checkpoint.Tensors.Single(t => t.Name == "tied.second");

        Assert.Equal(first.StorageKey, second.StorageKey);
        Assert.Equal(6, second.StorageOffset);
        Assert.Equal(first.FileOffset + 6 * sizeof(float), second.FileOffset);
        Assert.Equal([3L, 1L], first.Strides);
        // torch.save aligns each storage record's bytes to 64 in the file; the reader found them through the zip headers.
        Assert.Equal(0, first.FileOffset % 64);
    }

    [Fact]
    public void Non_contiguous_tensor_is_refused_naming_it()
    {
        var error = Assert.Throws<PyTorchCheckpointException>(() => PyTorchCheckpoint.Open(DataFile("noncontiguous.pt")));
        Assert.Equal(PyTorchCheckpointProblem.InvalidTensor, error.Problem);
        Assert.Contains("'w'", error.Message);
        Assert.Contains("not contiguous", error.Message);
    }

    [Fact]
    public void Component_folder_with_only_pytorch_model_bin_loads_through_the_weight_set()
    {
        File.Copy(DataFile("nested.pth"), Path.Combine(_dir.Path, "pytorch_model.bin"));

        using var set = SafeTensorsSet.OpenComponent(_dir.Path, "model", null);

        Assert.Equal(["encoder.weight", "encoder.bias"], set.Tensors.OrderBy(t => t.FileOffset).Select(t => t.Name));
        Assert.Equal([1f, 2f, 3f, 4f], set.ReadAsFloat32("encoder.weight"));
    }

    [Fact]
    public void Safetensors_is_preferred_when_both_formats_are_present()
    {
        File.Copy(DataFile("nested.pth"), Path.Combine(_dir.Path, "diffusion_pytorch_model.bin"));
        new SafeTensorsWriter().Add("only.safetensors", SafeTensorDType.F32, [1L], BitConverter.GetBytes(1f))
            .Save(Path.Combine(_dir.Path, "diffusion_pytorch_model.safetensors"));

        using var set = SafeTensorsSet.OpenComponent(_dir.Path, "diffusion_pytorch_model", null);

        Assert.True(set.Contains("only.safetensors"));
        Assert.False(set.Contains("encoder.weight"));
    }

    [Fact]
    public void Sharded_bin_checkpoint_loads_through_its_index()
    {
        File.Copy(DataFile("nested.pth"), Path.Combine(_dir.Path, "pytorch_model-00001-of-00002.bin"));
        File.Copy(DataFile("state_dict.pt"), Path.Combine(_dir.Path, "pytorch_model-00002-of-00002.bin"));
        using (var checkpoint = PyTorchCheckpoint.Open(DataFile("state_dict.pt")))
        {
            var map = checkpoint.Tensors.ToDictionary(t => t.Name, _ => "pytorch_model-00002-of-00002.bin");
            map["encoder.weight"] = map["encoder.bias"] = "pytorch_model-00001-of-00002.bin";
            File.WriteAllText(Path.Combine(_dir.Path, "pytorch_model.bin.index.json"),
                JsonSerializer.Serialize(new { metadata = new { total_size = 0 }, weight_map = map }));
        }

        using var set = SafeTensorsSet.OpenComponent(_dir.Path, "model", null);

        Assert.Equal([-1f, 1f], set.ReadAsFloat32("encoder.bias"));
        Assert.Equal([0.5f, -1.5f], set.ReadAsFloat32("linear.bias"));
    }

    [Fact]
    public void Missing_weights_name_the_bin_files_tried_too()
    {
        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsSet.OpenComponent(_dir.Path, "model", null));
        Assert.Contains("pytorch_model.bin", error.Message);
        Assert.Contains("pytorch_model.bin.index.json", error.Message);
    }

    [Fact]
    public void Bin_variant_is_found_and_listed()
    {
        File.Copy(DataFile("nested.pth"), Path.Combine(_dir.Path, "diffusion_pytorch_model.fp16.bin"));

        Assert.Equal(["fp16"], SafeTensorsSet.FindVariants(_dir.Path, "diffusion_pytorch_model"));
        using var set = SafeTensorsSet.OpenComponent(_dir.Path, "diffusion_pytorch_model", "fp16");
        Assert.True(set.Contains("encoder.weight"));
    }

    [Fact]
    public void Checkpoint_without_a_known_extension_is_recognised_by_content()
    {
        var path = Path.Combine(_dir.Path, "weights.data");
        File.Copy(DataFile("nested.pth"), path);

        using var set = SafeTensorsSet.OpenFile(path);

        Assert.Equal([-1f, 1f], set.ReadAsFloat32("encoder.bias"));
    }

    [Theory]
    [InlineData("x.safetensors")]
    [InlineData("x.weights")]
    public void Safetensors_whose_length_prefix_starts_like_a_pickle_stays_safetensors(string name)
    {
        // Header length 0x280 = 640: the file starts 0x80 0x02, as a protocol-2 pickle does.
        var header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}".PadRight(640);
        var path = Path.Combine(_dir.Path, name);
        File.WriteAllBytes(path, [.. BitConverter.GetBytes(640L), .. System.Text.Encoding.ASCII.GetBytes(header), .. BitConverter.GetBytes(2.5f)]);

        using var set = SafeTensorsSet.OpenFile(path);

        Assert.Equal([2.5f], set.ReadAsFloat32("a"));
    }
}
