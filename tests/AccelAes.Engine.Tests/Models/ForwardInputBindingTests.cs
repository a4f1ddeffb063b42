using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Components;
using AccelAes.Engine.Models;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Tests.Models;

/// <summary>
/// <see cref="ForwardInputs"/>: the one place named inputs are checked (names, shape patterns with sizes shared across
/// inputs) and converted to what the model needs (<see cref="InputConversion"/>), and the scheduler's last guard.
/// </summary>
public class ForwardInputBindingTests
{
    private static readonly CpuBackend Cpu = new();

    private static readonly IReadOnlyList<ForwardInput> Declared =
    [
        new("latents", true, "noise", "[B, 4, h, w]"),
        new("prompt_embeds", true, "text", "[B, L, 8]"),
        new("mask", false, "1 = token", "[B, L]"),
        new("timestep", false, "time", "[] | [1] | [B]"),
        new("input_ids", false, "ids", "[B, L]", InputKind.Indices),
    ];

    private static Tensor Floats(params int[] dims) => Cpu.Upload(new float[new Shape(dims).ElementCount], new Shape(dims));

    private static Dictionary<string, Tensor> Valid(int batch = 2) => new()
    {
        ["latents"] = Floats(batch, 4, 3, 3),
        ["prompt_embeds"] = Floats(batch, 5, 8),
    };

    private static ModelInputException Refused(Dictionary<string, Tensor> inputs)
        => Assert.Throws<ModelInputException>(() => ForwardInputs.Bind("Pipe", Declared, inputs));

    [Fact]
    public void Shared_sizes_must_agree_and_the_error_names_both_tensors()
    {
        var inputs = Valid();
        inputs["prompt_embeds"] = Floats(3, 5, 8);
        var ex = Refused(inputs);
        Assert.Equal("prompt_embeds", ex.Argument);
        Assert.Contains("[3, 5, 8]", ex.Message);
        Assert.Contains("B = 2 as in 'latents' [2, 4, 3, 3]", ex.Message);

        inputs = Valid();
        inputs["mask"] = Floats(2, 6);
        Assert.Contains("L = 5 as in 'prompt_embeds' [2, 5, 8]", Refused(inputs).Message);
    }

    [Fact]
    public void Rank_and_fixed_sizes_are_checked_before_anything_that_depends_on_them()
    {
        var inputs = Valid();
        inputs["latents"] = Floats(4, 3, 3); // batch dimension dropped
        inputs["timestep"] = Floats(2);
        var ex = Refused(inputs);
        Assert.Equal("latents", ex.Argument);
        Assert.Contains("expected [B, 4, h, w]", ex.Message);

        inputs = Valid();
        inputs["latents"] = Floats(2, 4, 0, 3);
        Assert.Contains("dimension 2 is empty", Refused(inputs).Message);
    }

    [Theory]
    [InlineData(new int[0], true)]
    [InlineData(new[] { 1 }, true)]
    [InlineData(new[] { 2 }, true)]
    [InlineData(new[] { 3 }, false)]
    [InlineData(new[] { 2, 1 }, false)]
    public void Alternatives_accept_a_scalar_a_single_value_or_one_per_batch_item(int[] timestep, bool accepted)
    {
        var inputs = Valid();
        inputs["timestep"] = Floats(timestep);
        if (accepted) ForwardInputs.Bind("Pipe", Declared, inputs);
        else Assert.Contains("expected [] or [1] or [B], where B = 2", Refused(inputs).Message);
    }

    [Fact]
    public void Integer_values_become_exact_floats_and_whole_floats_become_indices()
    {
        var inputs = Valid(1);
        inputs["mask"] = Cpu.UploadIndices([1, 1, 1, 0, 0], new Shape(1, 5));
        inputs["timestep"] = Cpu.UploadIndices([1 << 24], new Shape(1));
        inputs["input_ids"] = Cpu.Upload([5, 6, 7, 0, 0], new Shape(1, 5));
        var bound = ForwardInputs.Bind("Pipe", Declared, inputs);
        Assert.Equal(DType.F32, bound["mask"].DType);
        Assert.Equal([1f, 1f, 1f, 0f, 0f], Cpu.Download(bound["mask"]));
        Assert.Equal([16777216f], Cpu.Download(bound["timestep"]));
        Assert.Equal(DType.I32, bound["input_ids"].DType);
        Assert.Equal([5f, 6f, 7f, 0f, 0f], Cpu.Download(bound["input_ids"]));
        Assert.Same(inputs["latents"], bound["latents"]); // fp32 inputs pass through untouched
    }

    [Fact]
    public void Conversions_that_would_change_a_value_are_refused_naming_the_element()
    {
        var inputs = Valid(1);
        inputs["timestep"] = Cpu.UploadIndices([-(1 << 25)], new Shape(1));
        var ex = Refused(inputs);
        Assert.Equal("timestep", ex.Argument);
        Assert.Contains("-33554432 at [0]", ex.Message);

        inputs = Valid(1);
        inputs["input_ids"] = Cpu.Upload([5, 6, 7.25f, 0, 0], new Shape(1, 5));
        ex = Refused(inputs);
        Assert.Equal("input_ids", ex.Argument);
        Assert.Contains("7.25 at [0, 2]", ex.Message);

        inputs = Valid(1);
        inputs["input_ids"] = Cpu.Upload([5, float.NaN, 7, 0, 0], new Shape(1, 5));
        Assert.Contains("NaN at [0, 1]", Refused(inputs).Message);
    }

    [Fact]
    public void Malformed_patterns_are_a_bug_of_the_declaring_component()
    {
        Assert.Throws<ArgumentException>(() => InputShape.Parse("B, 4"));
        Assert.Throws<ArgumentException>(() => InputShape.Parse("[B, 4-1]"));
        Assert.Equal("[] or [1] or [B]", InputShape.Parse("[]|[1]| [B]").Text);
    }

    [Fact]
    public void A_schedule_that_is_not_finite_is_refused_naming_the_config_fields()
    {
        // One step with shift_terminal: the stretch divides 1 − σ_last = 0 by 1 − shift_terminal (NaN in diffusers too).
        var config = FlowMatchEulerSchedulerConfig.From(JsonConfig.Parse("scheduler_config.json", """{"shift": 3.0, "shift_terminal": 0.5}"""));
        var ex = Assert.Throws<AccelAesException>(() => new FlowMatchEulerScheduler(config).SetTimesteps(1));
        Assert.Contains("shift_terminal 0.5", ex.Message);
        Assert.Contains("step 0 of a 1-step schedule", ex.Message);
        Assert.Equal(3, new FlowMatchEulerScheduler(config).SetTimesteps(3).Steps);
    }
}
