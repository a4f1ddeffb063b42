using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Components;
using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers;
using Xunit.Abstractions;

namespace AccelAes.Engine.Tests.Conformance;

/// <summary>
/// CLIP text, T5 encoder and Gemma against transformers' own outputs (../shared/conformance/text_encoders):
/// every output a golden holds, with fp32 and bf16-rounded weights, through the same component path as
/// <c>accelaes forward</c>.
/// </summary>
public class TextEncoderConformanceTests(ITestOutputHelper log)
{
    private const string Suite = "text_encoders";
    private const string Bf16Suffix = "_bf16_weights";
    private static readonly CpuBackend Cpu = new();

    [GoldenTheory]
    [InlineData("clip_text_tiny", null)]
    [InlineData("clip_text_tiny", "bf16")]
    [InlineData("t5_encoder_tiny", null)]
    [InlineData("t5_encoder_tiny", "bf16")]
    [InlineData("gemma_tiny", null)]
    [InlineData("gemma_tiny", "bf16")]
    public void Every_output_matches_transformers(string golden, string? variant)
    {
        int checkedOutputs = CheckGolden(golden, variant);
        Assert.True(checkedOutputs >= (variant is null ? 3 : 1), $"{golden}: only {checkedOutputs} outputs were compared");
    }

    /// <summary>Any text-encoder golden in the shared folder, including ones added after these tests were written.</summary>
    [GoldenFact]
    public void Every_golden_folder_in_the_suite_conforms()
    {
        var folders = Directory.GetDirectories(GoldenFiles.At(Suite))
            .Where(d => File.Exists(Path.Combine(d, "config.json")) && File.Exists(Path.Combine(d, "outputs.safetensors")))
            .Select(d => Path.GetFileName(d)!).Order().ToList();
        Assert.NotEmpty(folders);
        foreach (string folder in folders)
        {
            CheckGolden(folder, null);
            if (File.Exists(GoldenFiles.At(Suite, folder, "model.bf16.safetensors")))
                CheckGolden(folder, "bf16");
        }
    }

    [GoldenFact]
    public void Clip_pools_at_the_position_transformers_pooled_at()
    {
        foreach (string folder in GoldensWith("pool_index"))
        {
            var component = (ClipTextComponent)Load(folder, null).Forward;
            var ids = Ids(folder);
            TextEncoderOutput result = component.WithProjection?.Forward(ids) ?? component.TextModel!.Forward(ids);
            float[] expected = GoldenTensors.Load(GoldenFiles.At(Suite, folder, "outputs.safetensors"))["pool_index"].Values;
            Assert.Equal(expected.Select(v => (int)v), result.PoolIndices!);
        }
    }

    [GoldenFact]
    public void T5_buckets_and_position_bias_match_the_debug_outputs()
    {
        var golden = GoldenTensors.Load(GoldenFiles.At(Suite, "t5_encoder_tiny", "outputs.safetensors"));
        var model = ((T5EncoderComponent)Load("t5_encoder_tiny", null).Forward).Model;
        var buckets = golden["debug_relative_position_bucket"];
        int length = buckets.Shape[0];
        Assert.Equal(buckets.Values.Select(v => (int)v), model.Encoder.PositionBiasOwner.PositionBuckets(length, buckets.Shape[1]));

        var bias = golden["debug_position_bias"];
        Tensor ours = model.Encoder.PositionBiasOwner.ComputeBias(length, buckets.Shape[1]);
        Assert.Equal(bias.Shape[1..], ours.Shape.ToArray());
        GoldenTensors.AssertConforms(bias.Values, Cpu.Download(ours), "T5 position bias", bar: 0);
    }

    [GoldenFact]
    public void Gemma_padding_tokens_do_not_change_the_real_positions()
    {
        var inputs = GoldenTensors.Load(GoldenFiles.At(Suite, "gemma_tiny", "inputs.safetensors"));
        var model = ((GemmaComponent)Load("gemma_tiny", null).Forward).Model;
        var ids = Grid(inputs["input_ids"], "input_ids");
        var mask = Grid(inputs["attention_mask"], "attention_mask");
        int[] changed = ids.Values.ToArray();
        for (int i = 0; i < changed.Length; i++)
            if (mask.Values[i] == 0) changed[i] = (changed[i] + 7) % model.Config.VocabSize;
        Assert.NotEqual(ids.Values.ToArray(), changed);

        float[] a = Cpu.Download(model.Forward(ids, mask).LastHiddenState);
        float[] b = Cpu.Download(model.Forward(new TokenGrid(ids.Batch, ids.Length, changed), mask).LastHiddenState);
        int d = model.Config.HiddenSize;
        double realDiff = 0, paddedDiff = 0;
        for (int t = 0; t < mask.Values.Length; t++)
        {
            double diff = TestData.MaxAbsDiff(a.AsSpan(t * d, d), b.AsSpan(t * d, d));
            if (mask.Values[t] == 1) realDiff = Math.Max(realDiff, diff);
            else paddedDiff = Math.Max(paddedDiff, diff);
        }
        Assert.Equal(0, realDiff);
        Assert.True(paddedDiff > 1e-3, "padded positions are computed from their own tokens");
    }

    private int CheckGolden(string folder, string? variant)
    {
        LoadedComponent component = Load(folder, variant);
        Assert.Empty(component.UnusedTensors);
        var inputs = GoldenTensors.Load(GoldenFiles.At(Suite, folder, "inputs.safetensors"));
        var golden = GoldenTensors.Load(GoldenFiles.At(Suite, folder, "outputs.safetensors"));
        var named = inputs.ToDictionary(kv => kv.Key, kv => Cpu.Upload(kv.Value.Values, new Shape(kv.Value.Shape)));
        var result = component.Forward.Forward(named);
        int hiddenStates = result.Keys.Count(k => k.StartsWith("hidden_states.", StringComparison.Ordinal));

        int compared = 0;
        foreach (var (name, expected) in golden)
        {
            bool bf16 = name.EndsWith(Bf16Suffix, StringComparison.Ordinal);
            if (bf16 != (variant == "bf16") || name.StartsWith("debug_", StringComparison.Ordinal) || name == "pool_index") continue;
            string output = bf16 ? name[..^Bf16Suffix.Length] : name;
            // The goldens store hidden_states[-2] under its own name (what SD3 and Lumina take).
            if (output == "penultimate_hidden_state") output = $"hidden_states.{hiddenStates - 2}";
            Assert.True(result.ContainsKey(output), $"{folder}: no output '{output}' (has {string.Join(", ", result.Keys)})");
            Assert.Equal(expected.Shape, result[output].Shape.ToArray());
            float[] ours = Cpu.Download(result[output]);
            double error = GoldenTensors.RelativeMaxError(expected.Values, ours);
            log.WriteLine($"{folder} {name}: max|ours − ref| / max(1, max|ref|) = {error:E2}");
            GoldenTensors.AssertConforms(expected.Values, ours, $"{folder} {name}");
            compared++;
        }
        return compared;
    }

    private static LoadedComponent Load(string folder, string? variant)
        => ComponentLoader.Load(ModelFolder.Open(GoldenFiles.At(Suite, folder)).Component(folder), Cpu, variant);

    private static IEnumerable<string> GoldensWith(string output)
        => Directory.GetDirectories(GoldenFiles.At(Suite))
            .Where(d => File.Exists(Path.Combine(d, "outputs.safetensors"))
                        && GoldenTensors.Load(Path.Combine(d, "outputs.safetensors")).ContainsKey(output))
            .Select(d => Path.GetFileName(d)!);

    private static TokenGrid Ids(string folder)
        => Grid(GoldenTensors.Load(GoldenFiles.At(Suite, folder, "inputs.safetensors"))["input_ids"], "input_ids");

    private static TokenGrid Grid(GoldenTensor t, string name)
        => new(t.Shape[0], t.Shape[1], Array.ConvertAll(t.Values, v => (int)v), name);
}
