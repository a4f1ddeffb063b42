using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.AesMask;
using AccelAes.Engine.Backends;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Engine.Planning;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Tiny;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Files;
using AccelAes.Loader.SingleFile;

namespace AccelAes.Native;

/// <summary>
/// The C entry points of accelaes.h. Each one is a thin shell around the Engine's public API: check the arguments,
/// call the engine, turn whatever it throws into a status and a thread-local message. The contract of every function
/// (ownership, threading, errors) is documented in native/include/accelaes.h.
/// </summary>
internal static unsafe class Exports
{
    public const uint AbiVersion = 1;
    public const string Version = "0.2.0";

    // ---- Library ----------------------------------------------------------------------------------------

    [UnmanagedCallersOnly(EntryPoint = "accelaes_abi_version", CallConvs = [typeof(CallConvCdecl)])]
    public static uint AbiVersionExport() => AbiVersion;

    // The functions documented as "never fails" still catch: the only thing that could throw in them is the first
    // allocation of their static string, and then they answer with a string that needs no allocation.

    [UnmanagedCallersOnly(EntryPoint = "accelaes_version", CallConvs = [typeof(CallConvCdecl)])]
    public static byte* VersionExport()
    {
        try { return NativeText.Static(Version); }
        catch (Exception) { return NativeText.Empty; }
    }

    [UnmanagedCallersOnly(EntryPoint = "accelaes_status_name", CallConvs = [typeof(CallConvCdecl)])]
    public static byte* StatusName(int status)
    {
        try { return NativeText.Static(ErrorMapping.Name(status)); }
        catch (Exception) { return NativeText.Empty; }
    }

    [UnmanagedCallersOnly(EntryPoint = "accelaes_last_error", CallConvs = [typeof(CallConvCdecl)])]
    public static byte* LastErrorExport()
    {
        try { return LastError.Message; }
        catch (Exception) { return NativeText.Empty; }
    }

    // ---- Engine -----------------------------------------------------------------------------------------

    [UnmanagedCallersOnly(EntryPoint = "accelaes_engine_create", CallConvs = [typeof(CallConvCdecl)])]
    public static int EngineCreate(EngineOptions* options, nint* engine)
    {
        try
        {
            LastError.Clear();
            if (engine is null) throw InvalidArgument("accelaes_engine_create: the out pointer (accelaes_engine**) is NULL.");
            *engine = 0;
            EngineOptions o = options is null
                ? new EngineOptions { Size = (uint)sizeof(EngineOptions) }
                : Versioned.Read<EngineOptions>(options, "accelaes_engine_options", (uint)sizeof(EngineOptions));
            string backend = NativeText.Read(o.Backend, "accelaes_engine_options.backend") is { Length: > 0 } b ? b : "cpu";
            if (!BackendFactory.Names.Contains(backend))
                throw InvalidArgument($"accelaes_engine_options.backend: unknown backend '{backend}'; choose one of: {string.Join(", ", BackendFactory.Names)}.");
            if (o.Device < 0)
                throw InvalidArgument($"accelaes_engine_options.device is {o.Device}; a device ordinal is 0 or more.");

            IBackend created = BackendFactory.Create(backend, o.Device);
            lock (Handles.Gate)
            {
                var state = new EngineState(created);
                state.Handle = Handles.Add(state);
                *engine = state.Handle;
            }
            return (int)Status.Ok;
        }
        catch (Exception e)
        {
            // A backend the factory knows by name but cannot create here (not in this build) is UNSUPPORTED.
            return Fail(e, Status.Unsupported);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "accelaes_engine_free", CallConvs = [typeof(CallConvCdecl)])]
    public static int EngineFree(nint engine)
    {
        try
        {
            LastError.Clear();
            if (engine == 0) return (int)Status.Ok;
            EngineState state;
            ModelState[] models;
            lock (Handles.Gate)
            {
                state = Handles.Get<EngineState>(engine, "accelaes_engine");
                if (state.Running is { } running)
                    throw new NativeError(Status.Busy, $"accelaes_engine_free: the engine is running {running}; free it after that call returns.");
                models = [.. state.Models];
                foreach (var m in models) Handles.Remove(m.Handle);
                state.Models.Clear();
                Handles.Remove(engine);
            }
            foreach (var m in models) m.FreeStrings();
            state.Backend.Dispose();
            ReleaseMemory();
            return (int)Status.Ok;
        }
        catch (Exception e)
        {
            return Fail(e, Status.Internal);
        }
    }

    // ---- Models -----------------------------------------------------------------------------------------

    [UnmanagedCallersOnly(EntryPoint = "accelaes_model_load", CallConvs = [typeof(CallConvCdecl)])]
    public static int ModelLoad(nint engine, byte* folder, byte* variant, nint* model)
        => LoadFolder(engine, folder, variant, null, model, "accelaes_model_load");

    /// <summary>accelaes_model_load with the weights option (<c>--weights</c>: as stored, or fp8 quantised at load).</summary>
    [UnmanagedCallersOnly(EntryPoint = "accelaes_model_load_ex", CallConvs = [typeof(CallConvCdecl)])]
    public static int ModelLoadEx(nint engine, byte* folder, byte* variant, byte* weights, nint* model)
        => LoadFolder(engine, folder, variant, weights, model, "accelaes_model_load_ex");

    private static int LoadFolder(nint engine, byte* folder, byte* variant, byte* weights, nint* model, string function)
    {
        try
        {
            LastError.Clear();
            if (model is null) throw InvalidArgument($"{function}: the out pointer (accelaes_model**) is NULL.");
            *model = 0;
            string? folderText = NativeText.Read(folder, $"{function}: folder");
            string? variantText = NativeText.Read(variant, $"{function}: variant") is { Length: > 0 } v ? v : null;
            WeightPrecision precision = ReadWeights(weights, function);
            if (folderText is { Length: 0 })
                throw InvalidArgument($"{function}: folder is \"\"; pass a model folder, or NULL for the built-in tiny model.");
            try
            {
                PathRules.RequireVariant(variantText);
            }
            catch (AccelAesException e)
            {
                throw InvalidArgument($"{function}: {e.Message}");
            }

            EngineState state = BeginOnEngine(engine, "a model load");
            try
            {
                string path = folderText is null ? BuiltInModel.EnsureWritten() : ExistingFolder(folderText);
                // The memory plan before loading, for a generation at the model's defaults (the host's requests come later):
                // which weights the model keeps on the device, or a refusal naming what would fit.
                ResidencyDecision residency = GenerationResidency.Decide(path, variantText, new GenerationRequest { Prompt = "" }, state.Backend,
                    requested: null, memoryBytes: null, option: "the residency policy", weights: precision);
                ITextToImagePipeline pipeline = TextToImage.Open(path, state.Backend, variantText, residency.Policy, precision);
                *model = Register(state, pipeline, path);
            }
            finally
            {
                End(state);
            }
            return (int)Status.Ok;
        }
        catch (Exception e)
        {
            return Fail(e, Status.InvalidModel);
        }
    }

    /// <summary>
    /// The weights option as the CLI's <c>--weights</c> spells it: NULL, "" or "bf16" load the checkpoint as stored; "fp8"
    /// quantises the transformer's Linear weights at load (<see cref="Engine.Weights.Fp8QuantizedWeightSource"/>).
    /// </summary>
    private static WeightPrecision ReadWeights(byte* weights, string function)
        => NativeText.Read(weights, $"{function}: weights") switch
        {
            null or "" or "bf16" => WeightPrecision.AsStored,
            "fp8" => WeightPrecision.Fp8,
            var other => throw InvalidArgument($"{function}: weights is '{other}'; pass NULL, \"bf16\" (the checkpoint as stored) or \"fp8\" (quantised at load)."),
        };

    [UnmanagedCallersOnly(EntryPoint = "accelaes_model_load_file", CallConvs = [typeof(CallConvCdecl)])]
    public static int ModelLoadFile(nint engine, byte* file, byte* components, byte* config, byte* weights, nint* model)
    {
        try
        {
            LastError.Clear();
            if (model is null) throw InvalidArgument("accelaes_model_load_file: the out pointer (accelaes_model**) is NULL.");
            *model = 0;
            string? fileText = NativeText.Read(file, "accelaes_model_load_file: file");
            string? componentsText = NativeText.Read(components, "accelaes_model_load_file: components") is { Length: > 0 } c ? c : null;
            string? configText = NativeText.Read(config, "accelaes_model_load_file: config") is { Length: > 0 } f ? f : null;
            WeightPrecision precision = ReadWeights(weights, "accelaes_model_load_file");
            if (fileText is null or { Length: 0 })
                throw InvalidArgument("accelaes_model_load_file: file is NULL or \"\"; pass a single-file checkpoint (.safetensors).");
            string path = UserPath.Full(fileText, "accelaes_model_load_file: file");
            switch (InputFile.KindOf(path))
            {
                case FileEntryKind.RegularFile: break;
                case FileEntryKind.Missing: throw new NativeError(Status.NotFound, $"accelaes_model_load_file: '{path}' does not exist.");
                case FileEntryKind.Directory: throw InvalidArgument($"accelaes_model_load_file: '{path}' is a folder; load a model folder with accelaes_model_load.");
                case var kind: throw InvalidArgument($"accelaes_model_load_file: '{path}' {InputFile.Describe(kind)}, not a checkpoint file.");
            }

            EngineState state = BeginOnEngine(engine, "a model load");
            try
            {
                // The file with the pieces it lacks from the components folder (an error names what is missing), then the
                // memory plan from the file's header, as for a folder.
                ModelFolder composed = SingleFileModel.Open(path, componentsText, configText);
                ResidencyDecision residency = GenerationResidency.Decide(composed, null, new GenerationRequest { Prompt = "" }, state.Backend,
                    requested: null, memoryBytes: null, option: "the residency policy", weights: precision);
                ITextToImagePipeline pipeline = TextToImage.Open(composed, state.Backend, null, residency.Policy, precision);
                *model = Register(state, pipeline, path);
            }
            finally
            {
                End(state);
            }
            return (int)Status.Ok;
        }
        catch (Exception e)
        {
            return Fail(e, Status.InvalidModel);
        }
    }

    /// <summary>Hands out a handle for a loaded pipeline; <paramref name="path"/> is what accelaes_model_info_get reports as its folder.</summary>
    private static nint Register(EngineState state, ITextToImagePipeline pipeline, string path)
    {
        lock (Handles.Gate)
        {
            var loaded = new ModelState(state, pipeline, path);
            loaded.Handle = Handles.Add(loaded);
            state.Models.Add(loaded);
            return loaded.Handle;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "accelaes_model_free", CallConvs = [typeof(CallConvCdecl)])]
    public static int ModelFree(nint model)
    {
        try
        {
            LastError.Clear();
            if (model == 0) return (int)Status.Ok;
            ModelState state;
            lock (Handles.Gate)
            {
                state = Handles.Get<ModelState>(model, "accelaes_model");
                if (state.Engine.Running is { } running)
                    throw new NativeError(Status.Busy, $"accelaes_model_free: the model's engine is running {running}; free the model after that call returns.");
                Handles.Remove(model);
                state.Engine.Models.Remove(state);
            }
            state.FreeStrings();
            ReleaseMemory();
            return (int)Status.Ok;
        }
        catch (Exception e)
        {
            return Fail(e, Status.Internal);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "accelaes_model_info_get", CallConvs = [typeof(CallConvCdecl)])]
    public static int ModelInfoGet(nint model, ModelInfo* info)
    {
        try
        {
            LastError.Clear();
            ModelState state = Lookup(model);
            if (info is null) throw InvalidArgument("accelaes_model_info_get: info is NULL.");
            Versioned.CheckOut(info, "accelaes_model_info", (uint)sizeof(ModelInfo));
            ITextToImagePipeline p = state.Pipeline;
            Versioned.Write(info, new ModelInfo
            {
                DefaultSteps = p.DefaultSteps,
                DefaultGuidance = p.DefaultGuidanceScale,
                DefaultWidth = p.DefaultWidth,
                DefaultHeight = p.DefaultHeight,
                SizeMultiple = p.SizeMultiple,
                PipelineClass = state.PipelineClassText,
                Folder = state.FolderText,
                LoadSeconds = p.LoadTime.TotalSeconds,
            });
            return (int)Status.Ok;
        }
        catch (Exception e)
        {
            return Fail(e, Status.InvalidArgument);
        }
    }

    // ---- Generation -------------------------------------------------------------------------------------

    [UnmanagedCallersOnly(EntryPoint = "accelaes_image_size", CallConvs = [typeof(CallConvCdecl)])]
    public static int ImageSize(nint model, GenerateOptions* options, int* width, int* height)
    {
        try
        {
            LastError.Clear();
            ModelState state = Lookup(model);
            if (width is null || height is null) throw InvalidArgument("accelaes_image_size: width and height must not be NULL.");
            Parsed parsed = Parse(state, options);
            *width = parsed.Width;
            *height = parsed.Height;
            return (int)Status.Ok;
        }
        catch (Exception e)
        {
            return Fail(e, Status.InvalidArgument);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "accelaes_generate", CallConvs = [typeof(CallConvCdecl)])]
    public static int Generate(nint model, GenerateOptions* options, byte* rgb, nuint rgbCapacity, GenerateResult* result)
    {
        try
        {
            LastError.Clear();
            ModelState state = Lookup(model);
            if (result is not null) Versioned.CheckOut(result, "accelaes_generate_result", GenerateResult.FirstSize);
            Parsed parsed = Parse(state, options);
            ulong needed = (ulong)parsed.Width * (ulong)parsed.Height * 3;
            if (rgb is null)
                throw InvalidArgument($"accelaes_generate: rgb is NULL; pass a buffer of width × height × 3 = {needed} bytes (see accelaes_image_size).");
            if ((ulong)rgbCapacity < needed)
                throw new NativeError(Status.BufferTooSmall,
                    $"accelaes_generate: the image buffer holds {rgbCapacity} bytes; a {parsed.Width}×{parsed.Height} RGB image needs {needed} (width × height × 3).");

            BeginOnModel(model, "a generation");
            try
            {
                using var cancel = new CancellationTokenSource();
                var progress = parsed.Options.Progress is null ? null : new CallbackProgress(parsed.Options.Progress, parsed.Options.UserData, cancel);
                var watch = Stopwatch.StartNew();
                GenerationResult r = state.Pipeline.Generate(parsed.Request, progress, cancel.Token);
                double total = watch.Elapsed.TotalSeconds;
                // The decode phase is not followed by a check inside the engine: a cancel asked for there still cancels.
                cancel.Token.ThrowIfCancellationRequested();
                if (r.Image.Width != parsed.Width || r.Image.Height != parsed.Height || (ulong)r.Image.Pixels.LongLength != needed)
                    throw new InvalidOperationException(
                        $"The pipeline returned a {r.Image.Width}×{r.Image.Height} image ({r.Image.Pixels.LongLength} bytes) for a {parsed.Width}×{parsed.Height} request.");

                fixed (byte* pixels = r.Image.Pixels)
                    Buffer.MemoryCopy(pixels, rgb, (long)rgbCapacity, (long)needed);
                NativeText.Free(ref state.WarningsText);
                state.WarningsText = NativeText.Allocate(string.Join("\n", r.Warnings));
                NativeText.Free(ref state.ScheduleText);
                // The schedule that ran: after a mask fallback that is the dense one, not what explain predicted.
                state.ScheduleText = NativeText.Allocate(r.Acceleration?.Schedule.ToLetters() ?? StepScheduleLetters.Dense(r.Steps));
                lock (Handles.Gate) state.LastMask = r.Acceleration?.Mask;
                if (result is not null) Versioned.Write(result, Statistics(r, total, state.WarningsText, state.ScheduleText));
            }
            finally
            {
                End(state.Engine);
            }
            return (int)Status.Ok;
        }
        catch (Exception e)
        {
            return Fail(e, Status.InvalidArgument);
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "accelaes_mask_get", CallConvs = [typeof(CallConvCdecl)])]
    public static int MaskGet(nint model, float* soft, nuint softCapacity, byte* binary, nuint binaryCapacity, int* height, int* width)
    {
        try
        {
            LastError.Clear();
            FocusMask? mask;
            lock (Handles.Gate) mask = Handles.Get<ModelState>(model, "accelaes_model").LastMask;
            if (height is null || width is null) throw InvalidArgument("accelaes_mask_get: height and width must not be NULL.");
            int h = mask?.Height ?? 0, w = mask?.Width ?? 0;
            ulong needed = (ulong)h * (ulong)w;
            // Both buffers are checked before either is written: a failing call writes nothing.
            if (soft is not null && (ulong)softCapacity < needed)
                throw new NativeError(Status.BufferTooSmall, $"accelaes_mask_get: soft holds {softCapacity} floats; the {h}×{w} mask needs {needed}.");
            if (binary is not null && (ulong)binaryCapacity < needed)
                throw new NativeError(Status.BufferTooSmall, $"accelaes_mask_get: binary holds {binaryCapacity} bytes; the {h}×{w} mask needs {needed}.");
            if (mask is not null)
            {
                if (soft is not null) mask.Soft.AsSpan().CopyTo(new Span<float>(soft, mask.Soft.Length));
                if (binary is not null)
                    for (int p = 0; p < mask.IsFocus.Length; p++) binary[p] = mask.IsFocus[p] ? (byte)1 : (byte)0;
            }
            *height = h;
            *width = w;
            return (int)Status.Ok;
        }
        catch (Exception e)
        {
            return Fail(e, Status.InvalidArgument);
        }
    }

    // ---- Acceleration knobs -----------------------------------------------------------------------------

    [UnmanagedCallersOnly(EntryPoint = "accelaes_knob_count", CallConvs = [typeof(CallConvCdecl)])]
    public static int KnobCount()
    {
        try
        {
            LastError.Clear();
            return AccelerationOptions.Knobs.Count;
        }
        catch (Exception e)
        {
            Fail(e, Status.Internal);
            return 0;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "accelaes_knob", CallConvs = [typeof(CallConvCdecl)])]
    public static int Knob(int index, byte** name, byte** description)
    {
        try
        {
            LastError.Clear();
            var knobs = AccelerationOptions.Knobs;
            if (index < 0 || index >= knobs.Count)
                throw InvalidArgument($"accelaes_knob: index {index} is out of range; there are {knobs.Count} knobs (0–{knobs.Count - 1}).");
            if (name is not null) *name = NativeText.Static(knobs[index].Name);
            if (description is not null) *description = NativeText.Static(knobs[index].Description);
            return (int)Status.Ok;
        }
        catch (Exception e)
        {
            return Fail(e, Status.InvalidArgument);
        }
    }

    // ---- Helpers ----------------------------------------------------------------------------------------

    /// <summary>The generate options as <see cref="GenerationRequestValidation"/> names them in its messages (0 = default where the header says so).</summary>
    private static readonly GenerationFieldNames FieldNames = new(
        "accelaes_generate_options.steps (0 = the pipeline's default)",
        "accelaes_generate_options.guidance (0 = the pipeline's default)",
        "accelaes_generate_options.true_cfg_scale (0 = off)",
        "accelaes_generate_options.width (0 = the model's default)",
        "accelaes_generate_options.height (0 = the model's default)");

    /// <summary>The generate options, checked and turned into the engine's request, with the image size they give.</summary>
    private sealed record Parsed(GenerateOptions Options, GenerationRequest Request, int Width, int Height);

    private static Parsed Parse(ModelState state, GenerateOptions* options)
    {
        const string S = "accelaes_generate_options";
        if (options is null) throw InvalidArgument($"{S} is NULL; a prompt at least is needed.");
        GenerateOptions o = Versioned.Read<GenerateOptions>(options, S, (uint)sizeof(GenerateOptions));
        ITextToImagePipeline p = state.Pipeline;

        string prompt = NativeText.Read(o.Prompt, $"{S}.prompt")
                        ?? throw InvalidArgument($"{S}.prompt is NULL; pass \"\" for an empty prompt.");
        string negative = NativeText.Read(o.NegativePrompt, $"{S}.negative_prompt") ?? "";
        if (o.GuidanceMode is not (0 or 1))
            throw InvalidArgument($"{S}.guidance_mode is {o.GuidanceMode}; use ACCELAES_GUIDANCE_BATCHED (0) or ACCELAES_GUIDANCE_TWO_PASS (1).");

        if (o.AccelOverrideCount < 0)
            throw InvalidArgument($"{S}.accel_override_count is {o.AccelOverrideCount}; it must be 0 or more.");
        if (o.AccelOverrideCount > 0 && o.AccelOverrides is null)
            throw InvalidArgument($"{S}.accel_overrides is NULL but accel_override_count is {o.AccelOverrideCount}.");
        var overrides = new string[o.AccelOverrideCount];
        for (int i = 0; i < overrides.Length; i++)
            overrides[i] = NativeText.Read(o.AccelOverrides[i], $"{S}.accel_overrides[{i}]")
                           ?? throw InvalidArgument($"{S}.accel_overrides[{i}] is NULL; each entry is a \"knob=value\" string.");
        string preset = NativeText.Read(o.AccelPreset, $"{S}.accel_preset") is { Length: > 0 } given ? given : "none";
        AccelerationRequest acceleration = AccelerationRequest.Parse(preset, overrides);

        string? clip = NativeText.Read(o.AesMaskClip, $"{S}.aesmask_clip") is { Length: > 0 } c ? c : null;
        if (clip is not null && !Directory.Exists(clip))
            throw new NativeError(Status.NotFound, $"{S}.aesmask_clip: the CLIP text encoder folder '{Path.GetFullPath(clip)}' does not exist.");

        var request = new GenerationRequest
        {
            Prompt = prompt,
            NegativePrompt = negative,
            Steps = o.Steps == 0 ? null : o.Steps,
            GuidanceScale = o.Guidance == 0 ? null : o.Guidance,
            Seed = o.Seed,
            Width = o.Width == 0 ? null : o.Width,
            Height = o.Height == 0 ? null : o.Height,
            GuidanceMode = o.GuidanceMode == 1 ? GuidanceMode.TwoPass : GuidanceMode.Batched,
            TrueCfgScale = o.TrueCfgScale == 0 ? null : o.TrueCfgScale,
            Acceleration = acceleration,
            AesMaskClip = clip,
        };
        // The one validation the CLI and the pipelines use too (so accelaes_image_size accepts exactly what
        // accelaes_generate does); the zeros that mean "default" here were turned into unset values above.
        ResolvedGeneration resolved = GenerationRequestValidation.Resolve(request, p, FieldNames);
        return new Parsed(o, request, resolved.Width, resolved.Height);
    }

    private static GenerateResult Statistics(GenerationResult r, double totalSeconds, byte* warnings, byte* schedule)
    {
        double Phase(string name) => r.Timings.Where(t => t.Phase == name).Sum(t => t.Elapsed.TotalSeconds);
        double timed = r.Timings.Sum(t => t.Elapsed.TotalSeconds);
        double encode = Phase("encode"), denoise = Phase("denoise"), decode = Phase("decode");
        var a = r.Acceleration;
        return new GenerateResult
        {
            Width = r.Image.Width,
            Height = r.Image.Height,
            Steps = r.Steps,
            StepsComputed = a?.StepsRun.Length ?? r.Steps,
            StepsSkipped = a?.Skipped ?? 0,
            StepsSparse = a?.SparseForwards ?? 0,
            Guidance = r.GuidanceScale,
            EncodeSeconds = encode,
            DenoiseSeconds = denoise,
            DecodeSeconds = decode,
            OtherSeconds = Math.Max(0, timed - encode - denoise - decode),
            TotalSeconds = totalSeconds,
            WarningCount = r.Warnings.Count,
            MaskFocusTokens = a?.Mask is { Fallback: false } m ? m.FocusIndices.Length : -1,
            MaskTokens = a?.Mask?.TokenCount ?? -1,
            Warnings = warnings,
            Schedule = schedule,
        };
    }

    /// <summary>Progress reports to the host's callback, on the generating thread; a non-zero return cancels.</summary>
    private sealed class CallbackProgress(
        delegate* unmanaged[Cdecl]<int, int, int, void*, int> callback, void* userData, CancellationTokenSource cancel)
        : IProgress<GenerationProgress>
    {
        public void Report(GenerationProgress value)
        {
            if (cancel.IsCancellationRequested) return;
            if (callback((int)value.Phase, value.Done, value.Total, userData) != 0) cancel.Cancel();
        }
    }

    /// <summary>The CLI's check and words (<see cref="ModelFolder.RequireFolder"/>), returned as NOT_FOUND.</summary>
    private static string ExistingFolder(string folder)
    {
        try
        {
            return ModelFolder.RequireFolder(folder);
        }
        catch (ModelFolderNotFoundException e)
        {
            throw new NativeError(Status.NotFound, e.Message);
        }
    }

    private static ModelState Lookup(nint model)
    {
        lock (Handles.Gate) return Handles.Get<ModelState>(model, "accelaes_model");
    }

    /// <summary>Marks the engine busy with <paramref name="operation"/>; BUSY when it already is.</summary>
    private static EngineState BeginOnEngine(nint engine, string operation)
    {
        lock (Handles.Gate)
        {
            EngineState state = Handles.Get<EngineState>(engine, "accelaes_engine");
            Claim(state, operation);
            return state;
        }
    }

    /// <summary>Marks a model's engine busy with <paramref name="operation"/> (the model must still be live).</summary>
    private static void BeginOnModel(nint model, string operation)
    {
        lock (Handles.Gate) Claim(Handles.Get<ModelState>(model, "accelaes_model").Engine, operation);
    }

    private static void Claim(EngineState state, string operation)
    {
        if (state.Running is { } running)
            throw new NativeError(Status.Busy,
                $"The engine is running {running}: one operation per engine at a time (use one engine per thread for parallel work).");
        state.Running = operation;
    }

    private static void End(EngineState state)
    {
        lock (Handles.Gate) state.Running = null;
    }

    /// <summary>Gives a freed model's memory back now rather than at the next collection the host cannot see coming.</summary>
    private static void ReleaseMemory() => GC.Collect();

    private static NativeError InvalidArgument(string message) => new(Status.InvalidArgument, message);

    private static int Fail(Exception e, Status userError)
    {
        var (status, message) = ErrorMapping.Map(e, userError);
        return LastError.Set(status, message);
    }
}
