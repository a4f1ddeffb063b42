using AccelAes.Loader.PyTorch;
using AccelAes.Loader.SafeTensors;
using static AccelAes.TestSupport.TorchSaveFiles;

namespace AccelAes.Loader.Tests.PyTorch;

/// <summary>
/// Checkpoints that would run code under plain <c>pickle.load</c>, and broken or oversized ones: each is refused with
/// a <see cref="PyTorchCheckpointException"/> that names the cause, and nothing in them runs.
/// </summary>
public sealed class PyTorchHostileFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("evil_os_system.pt", "posix.system")]
    [InlineData("evil_eval.pt", "builtins.eval")]
    [InlineData("evil_class.pt", "exploit.Exploit")]
    [InlineData("evil_stack_global.pt", "posix.system")]
    public void Pickle_that_would_run_code_is_refused_naming_the_global(string file, string global)
    {
        // The payloads write this marker into the working directory when executed.
        var marker = Path.Combine(Environment.CurrentDirectory, "accelaes-pickle-ran");
        File.Delete(marker);

        var error = Assert.Throws<PyTorchCheckpointException>(() => PyTorchCheckpoint.Open(PyTorchCheckpointTests.DataFile(file)));

        Assert.Equal(PyTorchCheckpointProblem.ForbiddenGlobal, error.Problem);
        Assert.Contains($"'{global}'", error.Message);
        Assert.Contains("weights_only=True", error.Message);
        Assert.Contains(file, error.Message);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public void Reduce_of_os_system_built_here_runs_nothing()
    {
        var marker = Path.Combine(_dir.Path, "ran");
        var pickle = new PickleWriter().Proto(2).Global("os", "system").Mark().Unicode($"touch '{marker}'").Tuple().Reduce().Stop().ToArray();
        var path = Write(_dir, "evil.pt", Zip(pickle, []));

        var error = Assert.Throws<PyTorchCheckpointException>(() => SafeTensorsSet.OpenFile(path));

        Assert.Contains("'os.system'", error.Message);
        Assert.False(File.Exists(marker));
    }

    [Fact]
    public void Build_on_a_non_dict_and_instantiating_opcodes_are_refused()
    {
        // INST ('i') would instantiate a class named inline; BUILD on a list would set attributes.
        var inst = new PickleWriter().Proto(2).Mark().Raw("isubprocess\nPopen\n"u8.ToArray()).Stop().ToArray();
        var build = new PickleWriter().Proto(2).EmptyList().EmptyDict().Build().Stop().ToArray();

        Assert.Equal(PyTorchCheckpointProblem.ForbiddenGlobal, Open(inst).Problem);
        Assert.Equal(PyTorchCheckpointProblem.ForbiddenGlobal, Open(build).Problem);
    }

    [Fact]
    public void Legacy_format_is_refused_with_advice()
    {
        var error = Assert.Throws<PyTorchCheckpointException>(() => PyTorchCheckpoint.Open(PyTorchCheckpointTests.DataFile("legacy.pt")));
        Assert.Equal(PyTorchCheckpointProblem.LegacyFormat, error.Problem);
        Assert.Contains("1.6", error.Message);
    }

    [Fact]
    public void Every_truncation_of_a_valid_checkpoint_is_refused_cleanly()
    {
        var whole = File.ReadAllBytes(PyTorchCheckpointTests.DataFile("state_dict.pt"));
        for (var length = 1; length < whole.Length; length += 7)
        {
            var path = Write(_dir, "cut.pt", whole[..length]);
            Assert.Throws<PyTorchCheckpointException>(() => PyTorchCheckpoint.Open(path));
        }
    }

    [Fact]
    public void Every_truncation_of_the_pickle_is_refused_cleanly()
    {
        var storage = Floats("0", 1, 2, 3, 4);
        var pickle = StateDict([storage], new TensorSpec("w", "0", 0, [2, 2], [2, 1]));
        for (var length = 0; length < pickle.Length; length++)
        {
            var error = Open(pickle[..length], storage);
            Assert.Equal(PyTorchCheckpointProblem.InvalidPickle, error.Problem);
        }
    }

    [Fact]
    public void Storage_shorter_than_the_tensor_is_refused()
    {
        var storage = Floats("0", 1, 2, 3, 4);
        var error = Open(StateDict([storage], new TensorSpec("w", "0", 2, [2, 2], [2, 1])), storage);
        Assert.Equal(PyTorchCheckpointProblem.InvalidTensor, error.Problem);
        Assert.Contains("'w'", error.Message);
        Assert.Contains("runs past the end of its storage", error.Message);
    }

    [Fact]
    public void Storage_record_that_disagrees_with_its_numel_is_refused()
    {
        var claimed = Floats("0", 1, 2, 3, 4);
        var pickle = StateDict([claimed], new TensorSpec("w", "0", 0, [4], [1]));
        var error = Open(pickle, claimed with { Bytes = claimed.Bytes[..8] });
        Assert.Equal(PyTorchCheckpointProblem.InvalidTensor, error.Problem);
        Assert.Contains("storage '0' claims 4 elements", error.Message);
    }

    [Fact]
    public void Missing_storage_record_is_refused()
    {
        var storage = Floats("0", 1, 2);
        var error = Open(StateDict([storage], new TensorSpec("w", "0", 0, [2], [1])));
        Assert.Equal(PyTorchCheckpointProblem.MissingRecord, error.Problem);
        Assert.Contains("data/0", error.Message);
    }

    [Theory]
    [InlineData(long.MaxValue, 2L)]          // element count overflows
    [InlineData(-1L, 1L)]                     // negative dimension
    [InlineData(1L << 40, 1L << 40)]          // huge, no overflow, far beyond the storage
    public void Huge_or_negative_shapes_are_refused_before_anything_is_allocated(long rows, long columns)
    {
        var storage = Floats("0", 1, 2, 3, 4);
        var error = Open(StateDict([storage], new TensorSpec("w", "0", 0, [rows, columns], [columns, 1])), storage);
        Assert.Equal(PyTorchCheckpointProblem.InvalidTensor, error.Problem);
        Assert.Contains("'w'", error.Message);
    }

    [Fact]
    public void Too_many_dimensions_are_refused()
    {
        var storage = Floats("0", 1);
        var ones = Enumerable.Repeat(1L, 65).ToArray();
        Assert.Equal(PyTorchCheckpointProblem.LimitExceeded, Open(StateDict([storage], new TensorSpec("w", "0", 0, ones, ones)), storage).Problem);
    }

    [Fact]
    public void Mark_nesting_bomb_is_stopped_at_the_bound()
    {
        var pickle = new PickleWriter().Proto(2).Raw(Enumerable.Repeat((byte)'(', 100_000).ToArray()).Stop().ToArray();
        Assert.Equal(PyTorchCheckpointProblem.LimitExceeded, Open(pickle).Problem);
    }

    [Fact]
    public void Deeply_nested_and_self_referencing_containers_are_walked_safely()
    {
        // {"a": {"a": {... 10 000 deep}}} built through the memo, then a list that contains itself.
        // Inside a MARK each new dict is set into the one below it and stays on the stack; POP_MARK drops them all.
        var deep = new PickleWriter().Proto(2).EmptyDict().Put(0).Mark().Get(0);
        for (var i = 0; i < 10_000; i++)
            deep.Unicode("a").EmptyDict().Put(1).SetItem().Get(1);
        var error = Open(deep.Op((byte)'1').Stop().ToArray());
        Assert.Equal(PyTorchCheckpointProblem.LimitExceeded, error.Problem);

        var cycle = new PickleWriter().Proto(2).EmptyDict().Unicode("loop").EmptyList().Put(0).Get(0).Append().SetItem().Stop().ToArray();
        Assert.Equal(PyTorchCheckpointProblem.NoTensors, Open(cycle).Problem);
    }

    [Fact]
    public void Memo_misuse_is_refused()
    {
        var unset = new PickleWriter().Proto(2).Get(7).Stop().ToArray();
        Assert.Equal(PyTorchCheckpointProblem.InvalidPickle, Open(unset).Problem);
        Assert.Contains("memo entry 7", Open(unset).Message);

        var emptyPut = new PickleWriter().Proto(2).Put(0).Stop().ToArray();
        Assert.Equal(PyTorchCheckpointProblem.InvalidPickle, Open(emptyPut).Problem);
    }

    [Fact]
    public void String_length_past_the_end_is_refused_before_allocating()
    {
        var pickle = new PickleWriter().Proto(2).Op((byte)'X').Raw(BitConverter.GetBytes(int.MaxValue)).Stop().ToArray();
        var error = Open(pickle);
        Assert.Equal(PyTorchCheckpointProblem.InvalidPickle, error.Problem);
        Assert.Contains("runs past the end", error.Message);
    }

    [Fact]
    public void Compressed_records_and_non_zip_files_are_refused()
    {
        var storage = Floats("0", 1, 2);
        var pickle = StateDict([storage], new TensorSpec("w", "0", 0, [2], [1]));
        var compressed = Write(_dir, "deflated.pt", Zip(pickle, [storage], compress: true));
        var error = Assert.Throws<PyTorchCheckpointException>(() => PyTorchCheckpoint.Open(compressed));
        Assert.Equal(PyTorchCheckpointProblem.InvalidZip, error.Problem);
        Assert.Contains("compressed", error.Message);

        var text = Write(_dir, "notes.bin", "hello, not a checkpoint"u8.ToArray());
        Assert.Equal(PyTorchCheckpointProblem.InvalidZip, Assert.Throws<PyTorchCheckpointException>(() => PyTorchCheckpoint.Open(text)).Problem);
    }

    [Fact]
    public void Zip_without_data_pkl_is_refused()
    {
        var storage = Floats("0", 1);
        var zip = Zip(StateDict([storage], new TensorSpec("w", "0", 0, [1], [1])), [storage]);
        // Rename data.pkl to data.pkx (same length) in both the local and the central header.
        var renamed = System.Text.Encoding.Latin1.GetBytes(System.Text.Encoding.Latin1.GetString(zip).Replace("archive/data.pkl", "archive/data.pkx"));
        var error = Assert.Throws<PyTorchCheckpointException>(() => PyTorchCheckpoint.Open(Write(_dir, "nopkl.pt", renamed)));
        Assert.Equal(PyTorchCheckpointProblem.MissingRecord, error.Problem);
        Assert.Contains("data.pkl", error.Message);
    }

    [Fact]
    public void Zip64_directory_and_extra_fields_are_read()
    {
        // The same checkpoint with every size and offset moved into ZIP64 fields, as files past 4 GB have them.
        var storage = Floats("0", 1, 2, 3, 4);
        var zip = Zip(StateDict([storage], new TensorSpec("w", "0", 0, [2, 2], [2, 1])), [storage]);
        var path = Write(_dir, "zip64.pt", Zip64.Rewrite(zip));

        using var checkpoint = PyTorchCheckpoint.Open(path);

        Assert.Equal([1f, 2f, 3f, 4f], System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(checkpoint.GetBytes("w")).ToArray());
    }

    [Fact]
    public void Parameters_are_read_as_their_tensor_and_safe_but_unsupported_rebuilders_are_named()
    {
        var storage = Floats("0", 1, 2);
        var tensor = new TensorSpec("p", "0", 0, [2], [1]);
        PickleWriter Dict() => new PickleWriter().Proto(2).Global("collections", "OrderedDict").EmptyTuple().Reduce().Unicode("p");
        // torch._utils._rebuild_parameter(tensor, requires_grad, OrderedDict()): what nn.Parameter reduces to.
        var parameter = Dict().Global("torch._utils", "_rebuild_parameter").Mark().RebuildTensor(storage, tensor)
            .Op(0x88).Global("collections", "OrderedDict").EmptyTuple().Reduce().Tuple().Reduce().SetItem().Stop().ToArray();
        using (var checkpoint = PyTorchCheckpoint.Open(Write(_dir, "parameter.pt", Zip(parameter, [storage]))))
            Assert.Equal([2L], checkpoint.Tensors.Single(t => t.Name == "p").Shape);

        // Allowed by torch.load(weights_only=True), but not a dense tensor: refused as unsupported, never as forbidden.
        var sparse = Dict().Global("torch._utils", "_rebuild_sparse_tensor").EmptyTuple().Reduce().SetItem().Stop().ToArray();
        var error = Open(sparse);
        Assert.Equal(PyTorchCheckpointProblem.Unsupported, error.Problem);
        Assert.Contains("'torch._utils._rebuild_sparse_tensor'", error.Message);
    }

    private PyTorchCheckpointException Open(byte[] pickle, params Storage[] storages)
    {
        var path = Write(_dir, "crafted.pt", Zip(pickle, storages));
        return Assert.Throws<PyTorchCheckpointException>(() => PyTorchCheckpoint.Open(path));
    }
}
