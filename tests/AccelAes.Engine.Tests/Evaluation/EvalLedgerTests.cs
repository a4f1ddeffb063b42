using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Evaluation.Runs;
using AccelAes.TestSupport;

namespace AccelAes.Engine.Tests.Evaluation;

public class EvalLedgerTests
{
    private static EvalRecord Record(int prompt, string method, double edge, double? psnr) =>
        new(EvalItem.KeyOf(prompt, 1, method), prompt, $"prompt {prompt}", 1, method, $"images/{method}/p{prompt:D4}_s0001.png", 0.5,
            new Dictionary<string, double> { ["edge_density"] = edge }, psnr, psnr is null ? null : 0.9);

    [Fact]
    public void Records_round_trip_through_their_json_line_including_an_infinite_psnr()
    {
        EvalRecord r = Record(3, "stepcache", 1.25, double.PositiveInfinity);
        EvalRecord back = EvalRecord.TryParse(r.ToJsonLine())!;
        Assert.Equal((r.Key, r.PromptIndex, r.Prompt, r.Seed, r.Method, r.Image, r.Seconds, r.Psnr, r.Ssim),
            (back.Key, back.PromptIndex, back.Prompt, back.Seed, back.Method, back.Image, back.Seconds, back.Psnr, back.Ssim));
        Assert.Equal(r.Metrics, back.Metrics);
        Assert.Contains("\"psnr\":\"inf\"", r.ToJsonLine());
    }

    [Fact]
    public void A_line_cut_by_a_kill_is_dropped_and_the_file_rewritten_so_appends_start_clean()
    {
        using var dir = new TempDirectory();
        string path = dir.File("eval.jsonl");
        string complete = Record(0, "none", 1, null).ToJsonLine();
        string cut = Record(0, "stepcache", 2, 30).ToJsonLine()[..40];
        File.WriteAllText(path, complete + "\n" + cut);

        var ledger = EvalLedger.Open(path);
        Assert.Equal(1, ledger.DroppedLines);
        Assert.Equal([EvalItem.KeyOf(0, 1, "none")], ledger.Records.Keys);
        ledger.Append(Record(0, "stepcache", 2, 30));

        var reread = EvalLedger.Open(path);
        Assert.Equal(0, reread.DroppedLines);
        Assert.Equal(2, reread.Records.Count);
        Assert.Equal(2, File.ReadAllLines(path).Length);
    }

    [Fact]
    public void The_plan_puts_dense_first_for_every_prompt_and_seed()
    {
        var methods = new[] { new EvalMethod("stepcache", AccelerationRequest.Parse("stepcache", [])), new EvalMethod("none", AccelerationRequest.None) };
        var items = EvalPlan.Items(["a", "b"], [0, 5], methods);
        Assert.Equal(["p0/s0/none", "p0/s0/stepcache", "p0/s5/none", "p0/s5/stepcache", "p1/s0/none", "p1/s0/stepcache", "p1/s5/none", "p1/s5/stepcache"],
            items.Select(i => i.Key));
        Assert.Equal(Path.Combine("images", "stepcache", "p0001_s0005.png"), items[^1].ImagePath);
    }

    [Fact]
    public void The_summary_pairs_methods_with_dense_by_prompt_and_seed()
    {
        EvalRecord[] records =
        [
            Record(0, "none", 1.0, null) with { Seconds = 2 }, Record(1, "none", 3.0, null) with { Seconds = 4 },
            Record(0, "stepcache", 1.5, 20) with { Seconds = 1 }, Record(1, "stepcache", 3.5, double.PositiveInfinity) with { Seconds = 2 },
        ];
        var rows = EvalSummary.Compute(records, ["none", "stepcache"], ["edge_density"]);
        Assert.Equal(["none", "stepcache"], rows.Select(r => r.Method));
        MethodSummary fast = rows[1];
        Assert.Equal(2.0, fast.Speedup, 12); // mean 3 s dense over mean 1.5 s
        Assert.Equal(2.5, fast.Metrics[0].Mean, 12);
        Assert.Equal((0.5, 0.5, 0.5), (fast.Metrics[0].VersusDense!.Mean, fast.Metrics[0].VersusDense!.Low, fast.Metrics[0].VersusDense!.High));
        Assert.Equal(20, fast.MeanPsnr); // the identical image is counted apart
        Assert.Equal(1, fast.IdenticalToDense);
        Assert.Null(rows[0].Metrics[0].VersusDense);
    }
}
