using System.CommandLine;
using System.Globalization;
using AccelAes.Engine.Backends;
using AccelAes.Engine.Evaluation;
using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Files;

namespace AccelAes.Cli.Commands;

/// <summary>`accelaes score`: the evaluation metrics of one image, as `eval` computes them for every image it generates.</summary>
internal static class ScoreCommand
{
    public static Command Create()
    {
        var image = new Option<string>("--image") { Description = "The PNG to score.", Required = true };
        var prompt = new Option<string?>("--prompt") { Description = "The prompt the image was generated from (needed by clip, imagereward and hps)." };
        var json = new Option<string?>("--json") { Description = "Also write the scores to this JSON file: {\"image\", \"prompt\", \"metrics\": {name: value}}." };
        var scorers = new ScorerOptionsCli();
        var backend = CommonOptions.Backend();
        var command = new Command("score", "Score one image with the evaluation metrics (edge density; CLIP, ImageReward, HPS, aesthetic with their scorer files).")
        {
            image, prompt, json, backend,
        };
        foreach (Option option in scorers.All) command.Options.Add(option);
        command.SetAction(parse =>
        {
            string imagePath = parse.GetValue(image)!;
            string? promptText = parse.GetValue(prompt);
            string? jsonPath = parse.GetValue(json);
            IReadOnlyList<MetricEntry> entries = scorers.Selected(parse);
            var files = new RunFiles().Input(imagePath, "--image");
            foreach (var (path, what) in scorers.Inputs(parse)) files.Input(path, what);
            files.Output(jsonPath, "--json").Check();
            RgbImage rgb = PngImageInput.Read(imagePath, "--image");

            using IBackend be = BackendFactory.Create(parse.GetValue(backend)!);
            IReadOnlyList<IImageMetric> metrics = MetricCatalog.Create(entries, scorers.Files(parse, be));
            var scores = new List<(string Name, double Value)>();
            try
            {
                foreach (IImageMetric metric in metrics)
                {
                    if (metric.UsesPrompt && promptText is null)
                        throw new AccelAesException($"metric {metric.Name} scores the image against its prompt; give --prompt.");
                    scores.Add((metric.Name, metric.Score(rgb, promptText ?? "")));
                }
            }
            finally
            {
                foreach (IImageMetric metric in metrics) metric.Dispose();
            }

            var table = Ui.Table("metric", "value");
            foreach (var (name, value) in scores) table.AddCells(name, value.ToString("G6", CultureInfo.InvariantCulture));
            Ui.Show(table);
            if (jsonPath is not null)
            {
                JsonFiles.Write(jsonPath, w =>
                {
                    w.WriteStartObject();
                    w.WriteString("image", Path.GetFullPath(imagePath));
                    if (promptText is null) w.WriteNull("prompt");
                    else w.WriteString("prompt", promptText);
                    w.WriteStartObject("metrics");
                    foreach (var (name, value) in scores) JsonFiles.Number(w, name, value);
                    w.WriteEndObject();
                    w.WriteEndObject();
                });
                Ui.Done($"scores → {Path.GetFullPath(jsonPath)}");
            }
            return ExitCodes.Success;
        });
        return command;
    }
}
