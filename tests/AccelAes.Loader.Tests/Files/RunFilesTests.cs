using AccelAes.Loader.Files;

namespace AccelAes.Loader.Tests.Files;

/// <summary>RunFiles: a run's outputs are checked against each other and against its inputs before anything runs.</summary>
public sealed class RunFilesTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly string _model;
    private readonly string _weights;

    public RunFilesTests()
    {
        _model = _dir.Sub("model");
        Directory.CreateDirectory(Path.Combine(_model, "transformer"));
        _weights = Path.Combine(_model, "transformer", "weights.safetensors");
        File.WriteAllBytes(_weights, [1, 2, 3]);
    }

    public void Dispose() => _dir.Dispose();

    private static AccelAesException Refused(RunFiles files) => Assert.Throws<AccelAesException>(files.Check);

    [Fact]
    public void Two_outputs_naming_one_file_are_refused_however_spelled()
    {
        string image = _dir.File("x.png");
        string sameViaDots = Path.Combine(_model, "..", "x.png");
        var error = Refused(new RunFiles().Output(image, "--out").Output(sameViaDots, "--save-mask"));
        Assert.Contains("--out and --save-mask both name", error.Message);
        Assert.False(File.Exists(image));
    }

    [Fact]
    public void An_output_that_is_an_input_file_is_refused_also_through_links()
    {
        string inputs = _dir.Write("inputs.safetensors", [4, 5]);
        string symlink = _dir.File("link.safetensors");
        File.CreateSymbolicLink(symlink, inputs);
        string hardLink = SpecialFiles.HardLink(_dir.File("hard.safetensors"), inputs);

        foreach (string output in new[] { inputs, symlink, hardLink, Path.Combine(_model, "..", "inputs.safetensors") })
        {
            var error = Refused(new RunFiles().Input(inputs, "--inputs").Output(output, "--out"));
            Assert.Contains("is --inputs", error.Message);
        }
        Assert.Equal([4, 5], File.ReadAllBytes(inputs));
    }

    [Fact]
    public void An_existing_file_inside_an_input_folder_is_refused_a_new_one_is_not()
    {
        var error = Refused(new RunFiles().Input(_model, "--model").Output(_weights, "--out"));
        Assert.Contains("of --model", error.Message);

        new RunFiles().Input(_model, "--model").Output(Path.Combine(_model, "new.png"), "--out").Check();
    }

    [Fact]
    public void A_link_from_outside_to_a_file_of_an_input_folder_is_refused()
    {
        string link = _dir.File("weights-link.safetensors");
        File.CreateSymbolicLink(link, _weights);
        string hardLink = SpecialFiles.HardLink(_dir.File("weights-hard.safetensors"), _weights);

        Assert.Contains("of --model", Refused(new RunFiles().Input(_model, "--model").Output(link, "--out")).Message);
        Assert.Contains("of --model", Refused(new RunFiles().Input(_model, "--model").Output(hardLink, "--out")).Message);
        Assert.Equal([1, 2, 3], File.ReadAllBytes(_weights));
    }

    [Fact]
    public void Distinct_writable_outputs_beside_the_inputs_pass()
    {
        string existing = _dir.Write("old.png", [0]);
        new RunFiles()
            .Input(_model, "--model").Input(_dir.File("missing-input"), "--compare")
            .Output(existing, "--out").Output(_dir.File("mask.png"), "--save-mask").Output(null, "--json")
            .Check();
    }

    [Fact]
    public void Each_output_gets_the_output_file_checks()
    {
        Assert.Contains("--save-mask", Refused(new RunFiles().Output(_dir.File("ok.png"), "--out").Output(_model, "--save-mask")).Message);
        Assert.Contains("--json is empty", Refused(new RunFiles().Output("", "--json")).Message);
    }
}
