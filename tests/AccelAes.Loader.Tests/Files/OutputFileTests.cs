using AccelAes.Loader.Files;

namespace AccelAes.Loader.Tests.Files;

/// <summary>OutputFile: every output target is checked up front, and written whole or not at all.</summary>
public sealed class OutputFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static AccelAesException Refused(string path) => Assert.Throws<AccelAesException>(() => OutputFile.Check(path, "--out"));

    [Theory]
    [InlineData("")]
    [InlineData("  ")]
    public void An_empty_path_is_refused(string path) => Assert.Contains("--out is empty", Refused(path).Message);

    [Fact]
    public void A_folder_or_a_path_ending_in_a_separator_is_refused()
    {
        string folder = _dir.Sub("images");
        Assert.Contains("is a folder", Refused(folder).Message);
        Assert.Contains("names a folder", Refused(folder + "/").Message);
        Assert.Contains("names a folder", Refused(_dir.File("new") + "/").Message);
    }

    [Fact]
    public void A_path_under_a_file_is_refused()
    {
        string file = _dir.Write("plain.txt", [1, 2, 3]);
        var error = Refused(Path.Combine(file, "deeper", "x.png"));
        Assert.Contains($"'{file}' is a file, not a folder", error.Message);
        Assert.Equal([1, 2, 3], File.ReadAllBytes(file));
    }

    [Fact]
    public void A_place_where_files_cannot_be_created_is_found_by_trying()
    {
        // /proc takes no new files, for root neither; no list of such file systems is kept.
        var error = Refused("/proc/accelaes-output.png");
        Assert.Contains("files cannot be created in '/proc'", error.Message);
    }

    [Fact]
    public void A_fifo_and_a_symbolic_link_to_one_are_refused_and_left_alone()
    {
        string fifo = SpecialFiles.Fifo(_dir.File("pipe"));
        string link = _dir.File("link-to-pipe");
        File.CreateSymbolicLink(link, fifo);

        Assert.Contains("is a named pipe (FIFO)", Refused(fifo).Message);
        var viaLink = Refused(link);
        Assert.Contains($"a symbolic link to '{fifo}'", viaLink.Message);
        Assert.Contains("named pipe", viaLink.Message);
        Assert.Throws<AccelAesException>(() => OutputFile.WriteAllBytes(link, "--out", new byte[] { 1 }));

        Assert.Equal(FileEntryKind.Fifo, PathStatus.Of(fifo)!.Value.Kind);
        Assert.Equal(fifo, new FileInfo(link).LinkTarget); // still the link it was: nothing replaced it
        Assert.Equal(["link-to-pipe", "pipe"], Directory.GetFileSystemEntries(_dir.Path).Select(Path.GetFileName).Order());
    }

    [Fact]
    public void A_socket_is_refused()
    {
        string path = _dir.File("server.sock");
        using var socket = SpecialFiles.Socket(path);
        Assert.Contains("is a socket", Refused(path).Message);
        Assert.Equal(FileEntryKind.Socket, PathStatus.Of(path)!.Value.Kind);
    }

    [Fact]
    public void Dev_null_is_refused_by_the_check_that_runs_before_any_write()
    {
        // Only the check runs here (it writes nothing at the target): run as root, a rename over /dev/null used to replace it.
        Assert.Contains("is a character device", Refused("/dev/null").Message);
        Assert.Equal(FileEntryKind.CharacterDevice, PathStatus.Of("/dev/null")!.Value.Kind);
    }

    [Fact]
    public void A_symbolic_link_to_a_regular_file_is_written_through()
    {
        string target = _dir.Write("real.bin", [9, 9]);
        string link = _dir.File("link.bin");
        File.CreateSymbolicLink(link, target);

        Assert.Equal(target, OutputFile.Check(link, "--out"));
        OutputFile.WriteAllBytes(link, "--out", new byte[] { 1, 2, 3 });

        Assert.Equal([1, 2, 3], File.ReadAllBytes(target));
        Assert.Equal(target, new FileInfo(link).LinkTarget);
    }

    [Fact]
    public void A_failed_write_keeps_the_old_file_and_leaves_no_temporary_file()
    {
        string path = _dir.Write("result.json", [7]);
        Assert.Throws<InvalidOperationException>(() => OutputFile.Write(path, "--json", stream =>
        {
            stream.Write([1, 2, 3]);
            throw new InvalidOperationException("the producer failed half-way");
        }));
        Assert.Equal([7], File.ReadAllBytes(path));
        Assert.Equal(["result.json"], Directory.GetFileSystemEntries(_dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void Missing_folders_on_the_way_are_created()
    {
        string path = Path.Combine(_dir.Path, "a", "b", "out.bin");
        OutputFile.WriteAllBytes(path, "--out", new byte[] { 5 });
        Assert.Equal([5], File.ReadAllBytes(path));
        Assert.Equal(["out.bin"], Directory.GetFileSystemEntries(Path.GetDirectoryName(path)!).Select(Path.GetFileName));
    }
}
