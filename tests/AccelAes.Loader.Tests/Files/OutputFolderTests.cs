using AccelAes.Loader.Files;

namespace AccelAes.Loader.Tests.Files;

/// <summary>OutputFolder: a model folder is written whole and swapped in, never mixed with an old one, never over a file.</summary>
public sealed class OutputFolderTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static void WriteModel(string folder, string weights)
    {
        File.WriteAllText(Path.Combine(folder, "model_index.json"), "{}");
        File.WriteAllText(Path.Combine(folder, weights), "weights");
    }

    private string[] Entries(string folder) => Directory.GetFileSystemEntries(folder).Select(Path.GetFileName).Order().ToArray()!;

    [Fact]
    public void A_file_is_refused()
    {
        string file = _dir.Write("model", [1]);
        var error = Assert.Throws<AccelAesException>(() => OutputFolder.Write(file, "--out", replace: true, _ => { }));
        Assert.Contains("is a file, not a folder", error.Message);
        Assert.Equal([1], File.ReadAllBytes(file));
    }

    [Fact]
    public void A_non_empty_folder_is_replaced_only_when_asked_and_only_if_it_is_a_model()
    {
        string model = _dir.Sub("model");
        WriteModel(model, "old.safetensors");
        var error = Assert.Throws<AccelAesException>(() => OutputFolder.Write(model, "--out", replace: false, f => WriteModel(f, "new.safetensors")));
        Assert.Contains("--force", error.Message);

        string notAModel = _dir.Sub("documents");
        File.WriteAllText(Path.Combine(notAModel, "thesis.tex"), "precious");
        error = Assert.Throws<AccelAesException>(() => OutputFolder.Write(notAModel, "--out", replace: true, f => WriteModel(f, "new.safetensors")));
        Assert.Contains("not a model folder", error.Message);

        Assert.Equal(["model_index.json", "old.safetensors"], Entries(model));
        Assert.Equal(["thesis.tex"], Entries(notAModel));
    }

    [Fact]
    public void Replacing_swaps_the_whole_folder_in_and_leaves_no_sibling()
    {
        string model = _dir.Sub("model");
        WriteModel(model, "old.safetensors");
        OutputFolder.Write(model + "/", "--out", replace: true, f => WriteModel(f, "new.safetensors"));
        Assert.Equal(["model_index.json", "new.safetensors"], Entries(model));
        Assert.Equal(["model"], Entries(_dir.Path));
    }

    [Fact]
    public void A_failed_write_leaves_the_old_folder_as_it_was()
    {
        string model = _dir.Sub("model");
        WriteModel(model, "old.safetensors");
        Assert.Throws<InvalidOperationException>(() => OutputFolder.Write(model, "--out", replace: true, f =>
        {
            WriteModel(f, "new.safetensors");
            throw new InvalidOperationException("cancelled half-way");
        }));
        Assert.Equal(["model_index.json", "old.safetensors"], Entries(model));
        Assert.Equal(["model"], Entries(_dir.Path));
    }

    [Fact]
    public void A_missing_or_empty_folder_needs_no_permission()
    {
        string empty = _dir.Sub("empty");
        OutputFolder.Write(empty, "--out", replace: false, f => WriteModel(f, "w.safetensors"));
        OutputFolder.Write(Path.Combine(_dir.Path, "new", "model"), "--out", replace: false, f => WriteModel(f, "w.safetensors"));
        Assert.Equal(["model_index.json", "w.safetensors"], Entries(empty));
        Assert.Equal(["model_index.json", "w.safetensors"], Entries(Path.Combine(_dir.Path, "new", "model")));
    }
}
