using System.Text.Json;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Evaluation;
using AccelAes.Engine.Evaluation.Aesthetic;
using AccelAes.Engine.Evaluation.Clip;
using BigGustave;

namespace AccelAes.Cli.Tests;

/// <summary>`accelaes score --metrics clip,aesthetic` with scorer files in the published layouts (the head as a .pth).</summary>
public class ScoreClipCliTests
{
    [Fact]
    public void Score_computes_clip_and_aesthetic_as_the_metrics_do_in_process()
    {
        using var dir = new TempDirectory();
        string clip = dir.File("clip");
        TinyScorers.WriteClip(clip, seed: 8);
        string head = dir.File("head.safetensors"), pth = dir.File("sac+logos+ava1-l14-linearMSE.pth");
        TinyScorers.WriteAestheticHead(head, seed: 9);
        TorchSaveFiles.FromSafeTensors(head, pth);
        string image = dir.File("image.png");
        var builder = PngBuilder.Create(45, 37, hasAlphaChannel: false);
        for (int y = 0; y < 37; y++)
            for (int x = 0; x < 45; x++)
                builder.SetPixel((byte)(x * 5), (byte)(y * 6), (byte)((x * y) % 256), x, y);
        using (var f = File.Create(image)) builder.Save(f);

        string json = dir.File("scores.json");
        var r = CliRunner.Run("score", "--image", image, "--prompt", "a cat on a mat", "--metrics", "clip,aesthetic",
            "--clip", clip, "--aesthetic", pth, "--json", json);
        Assert.True(r.ExitCode == 0, r.All);
        using var scores = JsonDocument.Parse(File.ReadAllText(json));
        JsonElement metrics = scores.RootElement.GetProperty("metrics");

        using var cpu = new CpuBackend();
        var rgb = RgbImageFile.Read(image, "image");
        using var clipMetric = ClipScoreMetric.Load(clip, cpu);
        using var aesthetic = AestheticMetric.Load(clip, head, cpu);
        Assert.Equal(clipMetric.Score(rgb, "a cat on a mat"), metrics.GetProperty("clip").GetDouble(), 12);
        Assert.Equal(aesthetic.Score(rgb, ""), metrics.GetProperty("aesthetic").GetDouble(), 6);
    }

    [Fact]
    public void Clip_without_a_prompt_is_refused_naming_the_option()
    {
        using var dir = new TempDirectory();
        string clip = dir.File("clip");
        TinyScorers.WriteClip(clip);
        string image = dir.File("image.png");
        var builder = PngBuilder.Create(8, 8, hasAlphaChannel: false);
        using (var f = File.Create(image)) builder.Save(f);
        var r = CliRunner.Run("score", "--image", image, "--metrics", "clip", "--clip", clip);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("--prompt", CliCache.Flat(r.All));
    }

    /// <summary>
    /// The tokenizer options of hps and imagereward are read: without them each metric names the option it needs; with
    /// them it goes on to the checkpoint (here not a checkpoint), which the error then names instead.
    /// </summary>
    [Fact]
    public void Hps_and_imagereward_tokenizer_options_are_read()
    {
        using var dir = new TempDirectory();
        string image = dir.File("image.png");
        using (var f = File.Create(image)) PngBuilder.Create(8, 8, hasAlphaChannel: false).Save(f);
        string notACheckpoint = dir.Write("weights.pt", [1, 2, 3, 4]);
        string clip = dir.File("clip");
        TinyScorers.WriteClip(clip);
        string bert = dir.File("bert");
        Directory.CreateDirectory(bert);
        File.WriteAllText(Path.Combine(bert, "vocab.txt"), "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\ncat\n");
        string[] common = ["score", "--image", image, "--prompt", "a cat"];

        var hps = CliRunner.Run([.. common, "--metrics", "hps", "--hps", notACheckpoint]);
        Assert.Equal(1, hps.ExitCode);
        Assert.Contains("--hps-tokenizer DIR or --clip DIR", CliCache.Flat(hps.All));
        hps = CliRunner.Run([.. common, "--metrics", "hps", "--hps", notACheckpoint, "--hps-tokenizer", clip]);
        Assert.Equal(1, hps.ExitCode);
        Assert.DoesNotContain("--hps-tokenizer DIR or --clip DIR", CliCache.Flat(hps.All));
        Assert.Contains("weights.pt", CliCache.Flat(hps.All));

        var reward = CliRunner.Run([.. common, "--metrics", "imagereward", "--imagereward", notACheckpoint]);
        Assert.Equal(1, reward.ExitCode);
        Assert.Contains("--imagereward-tokenizer", CliCache.Flat(reward.All));
        reward = CliRunner.Run([.. common, "--metrics", "imagereward", "--imagereward", notACheckpoint, "--imagereward-tokenizer", bert]);
        Assert.Equal(1, reward.ExitCode);
        Assert.DoesNotContain("--imagereward-tokenizer", CliCache.Flat(reward.All));
        Assert.Contains("weights.pt", CliCache.Flat(reward.All));
    }
}
