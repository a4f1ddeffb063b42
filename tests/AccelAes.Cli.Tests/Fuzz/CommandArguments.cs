using AccelAes.Engine.Benchmarks;

namespace AccelAes.Cli.Tests.Fuzz;

/// <summary>
/// Draws the arguments of one `accelaes` command: each option is present or not, and its value is a valid one
/// (small step counts and sizes, so a case runs in seconds on the tiny models) unless the case's fault budget
/// makes it hostile. Inputs and outputs are recorded in the workspace, which the judge uses to decide what the run
/// was allowed to change.
/// </summary>
internal sealed class CommandArguments(FuzzDraw draw, CaseWorkspace workspace, List<string> mutations)
{
    public static readonly string[] Commands = ["generate", "tokenize", "denoise", "explain", "forward", "inspect", "make-tiny", "bench", "kernels"];
    private static readonly int[] CommandWeights = [20, 12, 14, 8, 14, 10, 8, 8, 6];
    public static readonly string[] Archs = ["sd3", "flux", "lumina-next"];

    private static readonly string[] Prompts = ["a photo of a cat", "a red apple on a wooden table, studio light", "猫", "an astronaut riding a horse"];
    private static readonly string[] KnobSettings =
    [
        "skip_ratio=0.5", "mask_step=1", "mask_step=off", "spatial_cfg=on", "spatial_cfg=off", "s_fg=7", "s_bg=3", "sparse=off",
        "sparse=on", "refresh=0", "refresh=1", "warmup=1", "interval=2", "layers=every:2", "layers=0,1", "extrapolation=reference",
        "schedule=reference", "threshold=quantile", "threshold=sd3_percentile", "blur_sigma=auto", "blur_sigma=1", "std_threshold=0.12",
        "gate=0.6", "fallback_guidance=cfg", "affinity=logits", "guidance=3", "steps=2", "words=topk", "top_k=2",
        "weighting=uniform", "weighting=non_aesthetic", "sparse_ffn=off", "extrapolation=index", "rel_l1_thresh=0.4",
        "residual_diff_threshold=0.1", "max_order=2", "cached_blocks=1", "boundary_step=2", "cached_blocks=auto",
        "temporal=teacache", "temporal=stepcache", "coefficients=1,0.5", "coefficients=auto",
    ];
    private static readonly string[] Knobs =
    [
        "steps", "guidance", "cfg", "skip_ratio", "mask_step", "spatial_cfg", "s_fg", "s_bg", "sparse", "refresh", "warmup", "interval", "layers",
        "extrapolation", "schedule", "threshold", "blur_sigma", "std_threshold", "gate", "fallback_guidance", "affinity", "words", "top_k",
        "weighting", "sparse_ffn", "rel_l1_thresh", "residual_diff_threshold", "max_order", "cached_blocks", "boundary_step", "temporal", "coefficients", "nonexistent",
    ];

    private readonly List<string> _args = [];
    private bool _mutated;

    public IReadOnlyList<string> Arguments => _args;

    public static string PickCommand(FuzzDraw draw)
    {
        int total = CommandWeights.Sum(), r = draw.Int(0, total);
        for (int i = 0; i < Commands.Length; i++)
            if ((r -= CommandWeights[i]) < 0) return Commands[i];
        return Commands[^1];
    }

    /// <summary>Where <paramref name="command"/> can take a fault: only commands that write have outputs, only some read models.</summary>
    public static FaultSite[] FaultSites(string command) => command switch
    {
        "tokenize" or "inspect" => [FaultSite.Value, FaultSite.Model, FaultSite.Input, FaultSite.CommandLine],
        "explain" => [FaultSite.Value, FaultSite.CommandLine],
        "make-tiny" or "kernels" => [FaultSite.Value, FaultSite.Output, FaultSite.CommandLine],
        _ => Enum.GetValues<FaultSite>(),
    };

    public void Build(string command, string arch)
    {
        switch (command)
        {
            case "generate": Generate(arch); break;
            case "tokenize": Tokenize(arch); break;
            case "denoise": Denoise(arch); break;
            case "explain": Explain(); break;
            case "forward": Forward(arch); break;
            case "inspect": Inspect(arch); break;
            case "make-tiny": MakeTiny(); break;
            case "bench": Bench(arch); break;
            default: Kernels(); break;
        }
        // Careless command lines: a typo'd option, a stray word, an option given twice.
        if (draw.Chance(0.3) && draw.Fault(FaultSite.CommandLine)) _args.Add(draw.Pick("--bogus", "extra", "--", "-x", "--steps"));
        if (_args.Count >= 2 && _args[^2].StartsWith("--", StringComparison.Ordinal) && draw.Chance(0.3) && draw.Fault(FaultSite.CommandLine))
            _args.AddRange([_args[^2], _args[^1]]);
    }

    private void Generate(string arch)
    {
        bool hasModel = draw.Chance(0.92);
        if (hasModel) Option("--model", Model(arch));
        else arch = "sd3"; // the built-in model
        if (draw.Chance(0.9)) Option("--prompt", Text());
        if (draw.Chance(0.25)) Option("--negative-prompt", Text());
        // Acceleration presets need enough steps for their warm-up and mask step; dense runs take 1–3.
        string preset = draw.Chance(0.3) ? Choice("none", "stepcache", "accelaes", "teacache", "fbcache", "fora", "taylorseer", "delta-dit") : "none";
        if (draw.Chance(0.95)) Option("--steps", preset == "none" ? Int(1, 3) : Int(8, 12));
        if (draw.Chance(0.4)) Option("--guidance", Float("1", "3.5", "7", "0.5"));
        if (draw.Chance(arch == "flux" ? 0.2 : 0.03)) Option("--true-cfg-scale", Float("1", "1.5", "2"));
        if (draw.Chance(0.3)) Option("--seed", draw.Fault(FaultSite.Value) ? draw.Pick([.. EdgeValues.Integers, "18446744073709551616", "-1"]) : draw.Int(0, 1 << 20).ToString());
        // FLUX's native size is 1024²: minutes on the CPU, so its cases always say the size.
        if (arch == "flux" || draw.Chance(0.4)) Option("--width", Size("64", "128", "256"));
        if (arch == "flux" || draw.Chance(0.4)) Option("--height", Size("64", "128", "192"));
        if (draw.Chance(0.15)) Option("--cfg-mode", Choice("Batched", "TwoPass"));
        if (preset != "none" || draw.Chance(0.05)) Option("--accel", preset);
        Settings();
        if (draw.Chance(0.08)) Option("--aesmask-clip", draw.Fault(FaultSite.Input) ? HostileInput() : workspace.Input(workspace.Model("sd3", "clip")));
        string output = "image.png";
        if (draw.Chance(0.9)) Option("--out", output = OutputFile(".png"));
        else workspace.FileOutput(output);
        if (draw.Chance(preset == "accelaes" ? 0.5 : 0.1))
        {
            string mask = draw.Chance(0.3) && draw.Fault(FaultSite.Output) ? workspace.FileOutput(output) : OutputFile(".png");
            Option("--save-mask", mask);
            // Beside the overlay: the mask tensors and the word scores, named after it.
            workspace.FileOutput(Path.ChangeExtension(mask, ".safetensors"));
            workspace.FileOutput(Path.ChangeExtension(mask, ".json"));
        }
        Variant();
        Backend();
    }

    private void Tokenize(string arch)
    {
        if (draw.Chance(0.9)) Option("--model", Model(arch, "tokenizer", "tokenizer_2", "tokenizer_3"));
        if (draw.Chance(0.4)) Option("--component", Choice("tokenizer", "tokenizer_2", "tokenizer_3"));
        if (Present()) Option("--prompt", Text());
        if (draw.Chance(0.3)) Option("--max-length", draw.Fault(FaultSite.Value) ? draw.Pick([.. EdgeValues.Integers, "2000000000", "16385", "1000000"]) : draw.Int(1, 100).ToString());
    }

    private void Denoise(string arch)
    {
        if (Present()) Option("--model", Model(arch, "transformer", "scheduler"));
        if (Present()) Option("--inputs", TensorInputs("denoise", arch));
        string preset = draw.Chance(0.25) ? Choice("none", "stepcache", "accelaes", "teacache", "fbcache", "fora", "taylorseer", "delta-dit") : "none";
        if (Present()) Option("--steps", preset == "none" ? Int(1, 3) : Int(8, 12));
        if (Present()) Option("--guidance", Float("1", "3.5", "7"));
        if (draw.Chance(0.25)) Option("--scheduler", Scheduler(arch));
        if (draw.Chance(0.4)) Option("--height", Size(TensorInputFiles.ImageSide.ToString()));
        if (draw.Chance(0.4)) Option("--width", Size(TensorInputFiles.ImageSide.ToString()));
        if (draw.Chance(0.15)) Option("--cfg-mode", Choice("Batched", "TwoPass"));
        if (preset != "none") Option("--accel", preset);
        Settings();
        if (Present()) Option("--out", OutputFile(".safetensors"));
        Variant();
        Backend();
    }

    private void Explain()
    {
        if (Present()) Option("--arch", Choice([.. ModelArchitectures.AllNames]));
        if (draw.Chance(0.6)) Option("--steps", draw.Fault(FaultSite.Value) ? draw.Pick([.. EdgeValues.Integers, "100000"]) : draw.Int(1, 51).ToString());
        if (draw.Chance(0.3)) Option("--size", Size("256", "512", "1024"));
        if (draw.Chance(0.2)) Option("--focus-fraction", Float("0.3", "0.5", "1"));
        if (draw.Chance(0.3)) _args.Add("--json");
        if (draw.Chance(0.5)) Option("--accel", Choice("none", "stepcache", "accelaes", "teacache", "fbcache", "fora", "taylorseer", "delta-dit"));
        Settings();
    }

    private void Forward(string arch)
    {
        string model = Present() ? Model(arch, "transformer") : "";
        if (model.Length > 0) Option("--model", model);
        if (draw.Chance(0.25))
            Option("--component", draw.Fault(FaultSite.Input)
                ? draw.Pick("vae", "text_encoder", "scheduler", "tokenizer", "../x", "transformer/", "/", workspace.FullFolder, "", ".", "..", "model_index.json")
                : "transformer");
        if (Present()) Option("--inputs", TensorInputs("forward", arch));
        if (Present()) Option("--out", OutputFile(".safetensors"));
        if (draw.Chance(0.2)) Option("--compare", draw.Fault(FaultSite.Input) ? HostileInput() : workspace.Input(TensorInputs("forward", arch, "reference.safetensors")));
        Variant();
        Backend();
    }

    private void Inspect(string arch)
    {
        if (Present())
        {
            string model = Model(arch);
            string path = draw.Fault(FaultSite.Input) ? HostileInput() : draw.Int(0, 4) switch
            {
                0 => model,
                1 => Path.Combine(model, "transformer"),
                2 => Path.Combine(model, "transformer", "diffusion_pytorch_model.safetensors"),
                _ => Path.Combine(model, "model_index.json"),
            };
            _args.Add(workspace.Input(path));
        }
        if (draw.Chance(0.4)) _args.Add("--tensors");
    }

    private void MakeTiny()
    {
        if (Present()) Option("--arch", Choice("sd3", "sd35", "flux", "flux-schnell", "lumina-next", "vae16", "vae4"));
        if (Present())
        {
            string folder = !draw.Fault(FaultSite.Output) ? Path.Combine(workspace.Root, $"made{draw.Int(0, 100)}")
                : draw.Pick([workspace.Model(draw.Pick(Archs)), workspace.EmptyFolder, .. workspace.HostileOutputs("")]);
            Option("--out", workspace.FolderOutput(folder));
        }
        if (draw.Chance(0.3)) Option("--seed", Int(0, 1000));
        if (draw.Chance(0.3)) Option("--dtype", Choice("f32", "bf16"));
    }

    private void Bench(string arch)
    {
        switch (draw.Int(0, 10))
        {
            case < 3:
                Option("--read", draw.Fault(FaultSite.Input) ? HostileInput()
                    : workspace.Input(Path.Combine(Model(arch, "transformer"), "transformer", draw.Chance(0.5) ? "" : "diffusion_pytorch_model.safetensors")));
                if (draw.Chance(0.6)) Option("--repeat", Int(1, 2));
                break;
            case < 6:
                Option("--op", draw.Fault(FaultSite.Value) ? draw.Pick("", "conv", "GEMM", " gemm", "[red]") : "gemm");
                _args.Add("--sizes");
                for (int i = draw.Int(1, 3); i > 0; i--) _args.Add(draw.Fault(FaultSite.Value) ? draw.Pick([.. EdgeValues.Integers, "100000"]) : draw.Pick("8", "16", "32"));
                Option("--repeat", Int(1, 2));
                Option("--warmup", Int(0, 1));
                break;
            case < 9:
                Option("--model", Model(arch, "transformer"));
                Option("--resolution", Size("32", "64"));
                Option("--repeat", Int(1, 1));
                Option("--warmup", Int(0, 1));
                if (draw.Chance(0.9)) _args.Add("--skip-peak");
                if (draw.Chance(0.5)) Option("--steps", Int(2, 3));
                if (draw.Chance(0.2)) Option("--layers", Int(1, 3));
                if (draw.Chance(0.2)) Option("--batch", Int(1, 2));
                if (draw.Chance(0.3)) Option("--accel", Choice("none", "stepcache", "accelaes", "teacache", "fbcache", "fora", "taylorseer", "delta-dit"));
                if (draw.Chance(0.2)) Option("--focus-fraction", Float("0.25", "0.5", "1"));
                break;
            default:
                // Real configurations are refused on the CPU at their native size (the GFLOP limit): a fast check, not a run.
                Option("--arch", draw.Fault(FaultSite.Value) ? draw.Pick([.. EdgeValues.Names]) : draw.Pick([.. ModelArchitectures.AllNames]));
                Option("--resolution", draw.Fault(FaultSite.Value) ? draw.Pick([.. EdgeValues.Integers]) : "1024");
                break;
        }
        if (draw.Chance(0.25)) Option("--json", OutputFile(".json"));
        if (draw.Chance(0.05)) Option("--device", Int(0, 0));
        Backend();
    }

    private void Kernels()
    {
        if (draw.Chance(0.4)) Option("--arch", draw.Fault(FaultSite.Value) ? draw.Pick([.. EdgeValues.Names, "compute_80 --evil", "sm_1", "compute_9999"]) : draw.Pick("compute_80", "sm_90", "all"));
        if (draw.Chance(0.3)) Option("--json", OutputFile(".json"));
        if (draw.Chance(0.2)) _args.Add("--lineinfo");
        if (draw.Chance(0.1)) _args.Add("--keep-known-hazards");
        if (draw.Chance(0.1)) _args.Add("--list");
    }

    // ---- value drawers: valid unless the fault budget says otherwise ----

    private void Option(string name, string value) => _args.AddRange([name, value]);

    /// <summary>Whether a required option (or argument) is given: always, unless a rare fault leaves it out.</summary>
    private bool Present() => !(draw.Chance(0.15) && draw.Fault(FaultSite.CommandLine));

    private string Int(int minInclusive, int maxInclusive) =>
        draw.Fault(FaultSite.Value) ? draw.Pick(EdgeValues.Integers) : draw.Int(minInclusive, maxInclusive + 1).ToString();

    private string Float(params string[] valid) => draw.Fault(FaultSite.Value) ? draw.Pick(EdgeValues.Floats) : draw.Pick(valid);

    private string Size(params string[] valid) =>
        draw.Fault(FaultSite.Value) ? draw.Pick([.. EdgeValues.Integers, "16384", "65536", "17", "8", "100000", "-16"]) : draw.Pick(valid);

    private string Text() => draw.Fault(FaultSite.Value) ? draw.Pick(EdgeValues.Texts) : draw.Pick(Prompts);

    private string Choice(params string[] valid) => draw.Fault(FaultSite.Value) ? draw.Pick([.. EdgeValues.Names, valid[0].ToUpperInvariant()]) : draw.Pick(valid);

    private void Settings()
    {
        for (int i = draw.Chance(0.25) ? draw.Int(1, 3) : 0; i > 0; i--)
            Option("--set", !draw.Fault(FaultSite.Value) ? draw.Pick(KnobSettings) : draw.Int(0, 3) switch
            {
                0 => $"{draw.Pick(Knobs)}={draw.Pick(EdgeValues.KnobValues)}",
                1 => draw.Pick("steps=2147483647", "blur_sigma=1e30", "mask_step=2147483647", "interval=0", "layers=every:0", "refresh=-1", "skip_ratio=1"),
                _ => draw.Pick("noequals", "=5", "==", "a=b=c", "steps", "", " = "),
            });
    }

    private void Variant()
    {
        // The tiny models carry no variant files, so only hostile names are worth a case.
        if (draw.Chance(0.15) && draw.Fault(FaultSite.Value)) Option("--variant", draw.Pick(EdgeValues.Names));
    }

    private void Backend()
    {
        if (draw.Chance(0.04)) Option("--backend", draw.Fault(FaultSite.Value) ? draw.Pick("gpu", "", "CPU", "cuda ") : "cuda");
    }

    /// <summary>The case's model copy (recorded as an input), broken by one or more mutations when the budget allows.</summary>
    private string Model(string arch, params string[] focus)
    {
        if (draw.Fault(FaultSite.Input)) return workspace.Input(draw.Chance(0.7) ? HostileInput() : draw.Pick(
            Path.Combine(workspace.Model(arch), "transformer"), Path.Combine(workspace.Model(arch), "model_index.json"),
            Path.Combine(workspace.Model(arch), "transformer", "diffusion_pytorch_model.safetensors")));
        string folder = workspace.Input(workspace.Model(arch));
        if (!_mutated && draw.Fault(FaultSite.Model))
        {
            _mutated = true;
            var mutator = new ModelFolderMutator(folder, focus);
            do mutations.Add(mutator.Mutate(draw));
            while (draw.Chance(0.3) && draw.Fault(FaultSite.Model));
        }
        return folder;
    }

    private string TensorInputs(string command, string arch, string name = "inputs.safetensors")
    {
        if (draw.Chance(0.4) && draw.Fault(FaultSite.Input)) return workspace.Input(HostileInput());
        var (path, broken) = TensorInputFiles.Write(Path.Combine(workspace.Root, name), command, arch, broken: draw.Fault(FaultSite.Input), draw);
        if (broken is not null) mutations.Add(broken);
        return workspace.Input(path);
    }

    private string Scheduler(string arch)
    {
        if (draw.Chance(0.5) && draw.Fault(FaultSite.Input)) return workspace.Input(HostileInput());
        string copy = Path.Combine(workspace.Root, "scheduler_config.json");
        File.Copy(Path.Combine(workspace.PristineModel(arch), "scheduler", "scheduler_config.json"), copy);
        if (draw.Fault(FaultSite.Model))
            mutations.Add(draw.Chance(0.7) ? JsonConfigMutator.ReplaceValue(copy, draw) ?? "" : JsonConfigMutator.ReplaceDocument(copy, draw));
        return workspace.Input(copy);
    }

    private string HostileInput() => draw.Pick(workspace.HostileInputs());

    /// <summary>A new file, or (a fault) a path that must be refused: a folder, a FIFO, a pseudo file system, an input of this very run.</summary>
    private string OutputFile(string extension)
    {
        if (!draw.Fault(FaultSite.Output)) return workspace.FileOutput(workspace.NewOutputFile(draw, extension));
        // Only inputs inside the case's folder: a hostile input such as /dev/zero must never become an output (root would replace it).
        var inputs = workspace.Inputs.Where(p => workspace.Contains(p) && (File.Exists(p) || Directory.Exists(p))).ToList();
        // An input folder's own files count: `forward --out` naming the model's weights must be refused too.
        foreach (string folder in inputs.Where(Directory.Exists).ToList())
            inputs.AddRange(Directory.EnumerateFiles(folder, "*.*", new EnumerationOptions { RecurseSubdirectories = true, MaxRecursionDepth = 1 })
                .Where(f => f.EndsWith(".safetensors", StringComparison.Ordinal) || f.EndsWith(".json", StringComparison.Ordinal)));
        // Symlinks among them may point out of the case's folder (/dev/zero): never an output, whatever the CLI does with it.
        inputs.RemoveAll(p => new FileInfo(p).LinkTarget is not null);
        // Inputs of the run and non-regular files first: replacing those is what does damage.
        string path = draw.Int(0, 10) switch
        {
            < 3 when inputs.Count > 0 => draw.PickFrom(inputs),
            < 6 => draw.Pick(workspace.Fifo, workspace.Loop, workspace.FullFolder, workspace.EmptyFolder, workspace.WorkingDirectory + "/"),
            _ => draw.Pick(workspace.HostileOutputs(extension)),
        };
        return workspace.FileOutput(path);
    }
}
