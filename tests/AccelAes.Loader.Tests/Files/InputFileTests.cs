using System.Text;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Files;
using AccelAes.Loader.SafeTensors;
using AccelAes.Loader.Tokenizers;
using AccelAes.Loader.Validation;

namespace AccelAes.Loader.Tests.Files;

/// <summary>
/// <see cref="InputFile"/>, the one way input files are read: regular files only, the type found before anything is
/// opened, links followed with loops named, sizes bounded — and the readers routed through it.
/// </summary>
public sealed class InputFileTests : IDisposable
{
    private const int Seconds = 20;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Kinds_are_found_without_opening_anything()
    {
        string file = _dir.Write("a.json", "{}"u8.ToArray());
        string fifo = SpecialFiles.Fifo(_dir.File("pipe"));
        string loop = SpecialFiles.SymlinkLoop(_dir.File("loop"));
        string broken = _dir.File("broken");
        File.CreateSymbolicLink(broken, _dir.File("nowhere"));
        string link = _dir.File("link.json");
        File.CreateSymbolicLink(link, file);

        Assert.Equal(FileEntryKind.RegularFile, InputFile.KindOf(file));
        Assert.Equal(FileEntryKind.RegularFile, InputFile.KindOf(link));
        Assert.Equal(FileEntryKind.Directory, InputFile.KindOf(_dir.Path));
        Assert.Equal(FileEntryKind.Missing, InputFile.KindOf(_dir.File("nothing")));
        Assert.Equal(FileEntryKind.Fifo, SpecialFiles.WithinSeconds(Seconds, () => InputFile.KindOf(fifo)));
        Assert.Equal(FileEntryKind.SymlinkLoop, InputFile.KindOf(loop));
        Assert.Equal(FileEntryKind.BrokenSymlink, InputFile.KindOf(broken));
        Assert.Equal(FileEntryKind.CharacterDevice, InputFile.KindOf("/dev/zero"));
        // Anything at the path "exists", so optional files that are special are reported, not skipped.
        Assert.True(InputFile.Exists(fifo) && InputFile.Exists(loop) && InputFile.Exists(broken));
        Assert.False(InputFile.Exists(_dir.File("nothing")));
    }

    [Fact]
    public void A_fifo_is_refused_by_name_instead_of_blocking_the_read()
    {
        string fifo = SpecialFiles.Fifo(_dir.File("config.json"));
        var e = Assert.IsType<InputFileException>(SpecialFiles.ThrownWithinSeconds(Seconds,
            () => InputFile.ReadAllBytes(fifo, InputLimits.MaxConfigFileBytes, "Config file")));
        Assert.Equal(FileEntryKind.Fifo, e.Kind);
        Assert.Contains(fifo, e.Message);
        Assert.Contains("FIFO", e.Message);
    }

    [Fact]
    public void A_device_is_refused_instead_of_being_read_forever()
    {
        var e = Assert.Throws<InputFileException>(() => InputFile.ReadAllText("/dev/zero", InputLimits.MaxConfigFileBytes, "Config file"));
        Assert.Equal(FileEntryKind.CharacterDevice, e.Kind);
        Assert.Contains("'/dev/zero' is a character device", e.Message);
    }

    [Fact]
    public void A_symlink_loop_is_named_as_one()
    {
        string loop = SpecialFiles.SymlinkLoop(_dir.File("config.json"));
        var e = Assert.Throws<InputFileException>(() => InputFile.ReadAllText(loop, 100, "Config file"));
        Assert.Equal(FileEntryKind.SymlinkLoop, e.Kind);
        Assert.Contains(loop, e.Message);
        Assert.Contains("loops", e.Message);
    }

    [Fact]
    public void A_folder_is_refused_and_a_link_to_a_regular_file_is_read()
    {
        Assert.Contains("is a folder", Assert.Throws<InputFileException>(() => InputFile.ReadAllBytes(_dir.Path, 100, "Config file")).Message);
        string file = _dir.Write("a.json", Encoding.UTF8.GetBytes("\uFEFF{\"a\": 1}"));
        string link = _dir.File("b.json");
        File.CreateSymbolicLink(link, file);
        Assert.Equal("{\"a\": 1}", InputFile.ReadAllText(link, 100, "Config file")); // BOM dropped
    }

    [Fact]
    public void A_file_over_its_limit_is_refused_before_it_is_read()
    {
        string file = _dir.Write("big.json", new byte[101]);
        var e = Assert.Throws<InputFileException>(() => InputFile.ReadAllBytes(file, 100, "Config file"));
        Assert.Contains("101 bytes, more than the 100-byte limit", e.Message);
        Assert.Equal(100, InputFile.ReadAllBytes(_dir.Write("ok.json", new byte[100]), 100, "Config file").Length);
    }

    [Fact]
    public void An_oversized_config_is_refused_naming_the_file()
    {
        string path = _dir.Write("config.json", new byte[InputLimits.MaxConfigFileBytes + 1]);
        var e = Assert.Throws<InputFileException>(() => JsonConfig.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains($"{InputLimits.MaxConfigFileBytes}-byte limit", e.Message);
    }

    [Fact]
    public void Config_readers_refuse_special_files_within_a_time_limit()
    {
        string fifo = SpecialFiles.Fifo(_dir.File("scheduler_config.json"));
        Assert.IsType<InputFileException>(SpecialFiles.ThrownWithinSeconds(Seconds, () => JsonConfig.Load(fifo)));
        Assert.IsType<InputFileException>(SpecialFiles.ThrownWithinSeconds(Seconds, () => JsonConfig.Load("/dev/zero")));

        string model = _dir.Sub("model");
        SpecialFiles.Fifo(Path.Combine(model, "model_index.json"));
        var e = Assert.IsType<InputFileException>(SpecialFiles.ThrownWithinSeconds(Seconds, () => ModelFolder.Open(model)));
        Assert.Contains("model_index.json", e.Message);
    }

    [Fact]
    public void Tokenizer_readers_refuse_special_files_within_a_time_limit()
    {
        string folder = _dir.Sub("tokenizer");
        SpecialFiles.Fifo(Path.Combine(folder, "vocab.json"));
        File.WriteAllText(Path.Combine(folder, "merges.txt"), "#version: 0.2\n");
        Assert.IsType<InputFileException>(SpecialFiles.ThrownWithinSeconds(Seconds, () => ClipTokenizer.FromFolder(folder)));

        string t5 = _dir.Sub("t5");
        SpecialFiles.SymlinkLoop(Path.Combine(t5, "spiece.model"));
        var e = SpecialFiles.ThrownWithinSeconds(Seconds, () => T5Tokenizer.FromFolder(t5));
        Assert.IsType<InputFileException>(e);
        Assert.Contains("spiece.model", e!.Message);
    }

    [Fact]
    public void Safetensors_readers_refuse_special_files_within_a_time_limit()
    {
        string fifo = SpecialFiles.Fifo(_dir.File("model.safetensors"));
        var e = Assert.IsType<SafeTensorsFormatException>(SpecialFiles.ThrownWithinSeconds(Seconds, () => SafeTensorsFile.Open(fifo)));
        Assert.Equal(SafeTensorsProblem.NotAFile, e.Problem);
        Assert.Contains("FIFO", e.Message);

        string index = SpecialFiles.Fifo(_dir.File("diffusion_pytorch_model.safetensors.index.json"));
        var i = Assert.IsType<SafeTensorsFormatException>(SpecialFiles.ThrownWithinSeconds(Seconds,
            () => SafeTensorsSet.OpenComponent(_dir.Path, "diffusion_pytorch_model", null)));
        Assert.Contains(index, i.Message);
        Assert.Equal(SafeTensorsProblem.NotAFile, i.Problem);

        var loop = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsFile.Open(SpecialFiles.SymlinkLoop(_dir.File("loop.safetensors"))));
        Assert.Contains("loops", loop.Message);
    }

    [Fact]
    public void A_model_folder_argument_that_is_a_file_says_so()
    {
        string png = _dir.Write("image.png", [1, 2, 3]);
        var e = Assert.Throws<ModelFolderNotFoundException>(() => ModelFolder.Open(png));
        Assert.Contains("is a file, not a model folder", e.Message);
        Assert.Contains("does not exist", Assert.Throws<ModelFolderNotFoundException>(() => ModelFolder.Open(_dir.File("none"))).Message);
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("/etc")]
    [InlineData("a/b")]
    [InlineData("..")]
    [InlineData("")]
    public void Component_names_must_stay_inside_the_model_folder(string name)
    {
        var e = Assert.Throws<AccelAesException>(() => PathRules.RequireComponentName(name));
        Assert.Contains("component must be a folder name inside the model folder", e.Message);
    }

    [Theory]
    [InlineData("../x")]
    [InlineData("a/b")]
    [InlineData("fp16.")]
    [InlineData("")]
    public void Variants_must_be_plain_names(string variant)
    {
        Assert.Contains($"Variant '{variant}'", Assert.Throws<AccelAesException>(() => PathRules.RequireVariant(variant)).Message);
    }

    [Fact]
    public void A_model_index_naming_a_component_outside_the_folder_is_refused()
    {
        string model = _dir.Sub("model");
        TempDirectory.WriteText(model, "model_index.json",
            "{\"_class_name\": \"StableDiffusion3Pipeline\", \"../evil\": [\"diffusers\", \"AutoencoderKL\"]}");
        var e = Assert.Throws<ConfigException>(() => ModelFolder.Open(model));
        Assert.Equal("../evil", e.Field);
        Assert.Contains("folder name inside the model folder", e.Message);
    }
}
