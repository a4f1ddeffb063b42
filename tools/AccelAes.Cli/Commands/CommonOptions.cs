using System.CommandLine;
using AccelAes.Engine.Backends;
using AccelAes.Engine.Planning;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Backends.Cuda;

namespace AccelAes.Cli.Commands;

/// <summary>Options several commands share, defined once so their names and help stay consistent.</summary>
internal static class CommonOptions
{
    /// <summary><c>--fp8-gemm auto|on|off</c>: how a Linear with an fp8 weight runs on the CUDA backend (<see cref="Fp8GemmMode"/>).</summary>
    public static Option<string> Fp8Gemm()
    {
        var option = new Option<string>("--fp8-gemm")
        {
            Description = "cuda: how Linears with fp8 weights (--weights fp8, fp8 files) run. auto: cuBLASLt's FP8 GEMM on compute capability 8.9+ "
                + "(activations quantised to e4m3 per tensor), dequantise the weight to bf16 elsewhere; on: try the FP8 GEMM on any card; "
                + "off: always dequantise (the bf16 numbers of the dequantised weight). Default: ACCELAES_FP8_GEMM, else auto. Ignored by the cpu backend.",
        };
        option.AcceptOnlyFromAmong("auto", "on", "off");
        return option;
    }

    /// <summary><c>--swiglu-gemm auto|fused|split</c>: how a SwiGLU feed-forward's gate-and-up GEMM runs on the CUDA backend (<see cref="Engine.Backends.Cuda.SwiGluGemm"/>).</summary>
    public static Option<string> SwiGluGemm()
    {
        var option = new Option<string>("--swiglu-gemm")
        {
            Description = "cuda: how Lumina's SwiGLU gate-and-up projection runs. fused: one tensor-core GEMM with a SiLU·mul epilogue "
                + "(no [tokens, 2F] output, no silu_mul pass); split: the GEMM (cuBLASLt, else gemm.cu) then silu_mul; auto: fused without cuBLASLt, "
                + "with cuBLASLt both timed on the card at each shape's first call and the faster kept. Default: ACCELAES_SWIGLU_GEMM, else auto. "
                + "Ignored by the cpu backend.",
        };
        option.AcceptOnlyFromAmong("auto", "fused", "split");
        return option;
    }

    /// <summary>
    /// The backend the user asked for; a typed <c>--fp8-gemm</c> / <c>--swiglu-gemm</c> overrides the CUDA backend's default
    /// (ACCELAES_FP8_GEMM / ACCELAES_SWIGLU_GEMM, else auto).
    /// </summary>
    public static IBackend CreateBackend(string name, string? fp8Gemm, string? swiGluGemm = null, int device = 0)
    {
        var options = BackendFactory.DefaultCudaOptions();
        if (fp8Gemm is not null)
            options = options with { Fp8Gemm = BackendFactory.ParseFp8Gemm(fp8Gemm, "--fp8-gemm") };
        if (swiGluGemm is not null)
            options = options with { SwiGluGemm = BackendFactory.ParseSwiGluGemm(swiGluGemm, "--swiglu-gemm") };
        return BackendFactory.Create(name, device, cudaOptions: options);
    }

    /// <summary>The SwiGLU GEMM path a backend made with <paramref name="typed"/> runs: typed, else ACCELAES_SWIGLU_GEMM, else auto.</summary>
    public static Engine.Backends.Cuda.SwiGluGemm SwiGluGemmMode(string? typed)
        => typed is null ? BackendFactory.DefaultCudaOptions().SwiGluGemm : BackendFactory.ParseSwiGluGemm(typed, "--swiglu-gemm");

    /// <summary><see cref="SwiGluGemmMode"/> as the option spells it (auto / fused / split).</summary>
    public static string SwiGluGemmName(string? typed) => SwiGluGemmMode(typed).ToString().ToLowerInvariant();

    /// <summary>The fp8 GEMM mode a backend made with <paramref name="typed"/> runs (<see cref="CreateBackend"/>): typed, else ACCELAES_FP8_GEMM, else auto.</summary>
    public static string Fp8GemmName(string? typed)
        => (typed is null ? BackendFactory.DefaultCudaOptions().Fp8Gemm : BackendFactory.ParseFp8Gemm(typed, "--fp8-gemm")).ToString().ToLowerInvariant();

    public static Option<string> Backend()
    {
        var option = new Option<string>("--backend")
        {
            Description = "Where to run: cpu (fp32 reference) or cuda (bf16 kernels).",
            DefaultValueFactory = _ => "cpu",
        };
        option.AcceptOnlyFromAmong([.. BackendFactory.Names]);
        return option;
    }

    /// <summary>
    /// <c>--weights bf16|fp8</c> (the spelling <c>plan</c> uses): bf16 loads the checkpoint as stored; fp8 quantises the
    /// transformer's Linear weights at load (<see cref="Engine.Weights.Fp8QuantizedWeightSource"/>).
    /// </summary>
    public static Option<string> Weights()
    {
        var option = new Option<string>("--weights")
        {
            Description = "Transformer weights: bf16 (as the checkpoint stores them) or fp8 (Linear weight matrices quantised at load to e4m3 with a scale "
                + "max|row|/448 per output channel, round-to-nearest-even, saturating; biases, norms, convolutions and embeddings kept). "
                + "The cpu backend computes with the exactly dequantised fp32 values; cuda keeps the fp8 codes and scales on the device (1 byte per element) and dequantises each to bf16 for its GEMM.",
            DefaultValueFactory = _ => "bf16",
        };
        option.AcceptOnlyFromAmong("bf16", "fp8");
        return option;
    }

    /// <summary>
    /// <c>--components DIR</c>: with a single-file <c>--model</c>, the diffusers folder the pieces the file lacks come from
    /// (tokenizers, scheduler, text encoders, VAE), whose component configs also give the file's components their configs.
    /// </summary>
    public static Option<string?> Components() => new("--components")
    {
        Description = "With a single-file --model: a diffusers pipeline folder of the model (model_index.json) giving what the file lacks — tokenizers, scheduler, "
            + "text encoders, VAE; the components the file carries need no weights there, and their config.json there (if any) is the config they are built with "
            + "(checked against the tensors); or a folder of single files (clip_l / clip_g / t5xxl_* / ae.safetensors, told apart by their tensors) "
            + "holding the tokenizer*/ and scheduler/ folders of the diffusers repo.",
    };

    public static WeightPrecision PrecisionOf(string weights) => weights == "fp8" ? WeightPrecision.Fp8 : WeightPrecision.AsStored;

    public static Option<string?> Variant() => new("--variant")
    {
        Description = "Weight file variant to load, as diffusers names it (bf16, fp16 → diffusion_pytorch_model.bf16.safetensors).",
    };

    public static Option<string?> Model(bool required) => new("--model")
    {
        Description = "A diffusers model folder (with model_index.json) or a single component folder (with config.json).",
        Required = required,
    };
}
