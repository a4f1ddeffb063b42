using AccelAes.Engine.Acceleration.AesMask;
using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Engine.Tensors;

namespace AccelAes.Native;

/// <summary>What an accelaes_engine handle stands for: a backend, the models loaded on it, and the operation running on it.</summary>
internal sealed class EngineState(IBackend backend)
{
    public IBackend Backend { get; } = backend;
    public nint Handle { get; set; }
    public List<ModelState> Models { get; } = [];

    /// <summary>The operation running on this engine ("a model load", "a generation"); null when idle. Guarded by <see cref="Handles.Gate"/>.</summary>
    public string? Running { get; set; }
}

/// <summary>What an accelaes_model handle stands for: a loaded pipeline and the strings handed out for it.</summary>
internal sealed unsafe class ModelState(EngineState engine, ITextToImagePipeline pipeline, string folder)
{
    public EngineState Engine { get; } = engine;
    public ITextToImagePipeline Pipeline { get; } = pipeline;
    public string Folder { get; } = folder;
    public nint Handle { get; set; }

    public byte* PipelineClassText = NativeText.Allocate(pipeline.PipelineClass);
    public byte* FolderText = NativeText.Allocate(folder);

    /// <summary>The warnings of the last generation (accelaes_generate_result.warnings); replaced by the next one.</summary>
    public byte* WarningsText;

    /// <summary>The executed schedule of the last generation (accelaes_generate_result.schedule); replaced by the next one.</summary>
    public byte* ScheduleText;

    /// <summary>The AesMask of the last successful generation (accelaes_mask_get), null when it built none. Guarded by <see cref="Handles.Gate"/>.</summary>
    public FocusMask? LastMask;

    public void FreeStrings()
    {
        NativeText.Free(ref PipelineClassText);
        NativeText.Free(ref FolderText);
        NativeText.Free(ref WarningsText);
        NativeText.Free(ref ScheduleText);
    }
}

/// <summary>
/// The table of live handles. A handle is an id (never reused) looked up here on every call, so a freed, foreign or
/// mistyped handle is an error the caller can read, not a use-after-free. All state changes (create, free, the
/// engine's running operation) happen under <see cref="Gate"/>; the work itself (loading, generating) runs outside it.
/// </summary>
internal static class Handles
{
    public static readonly Lock Gate = new();
    private static readonly Dictionary<nint, object> Live = [];
    private static long _next;

    /// <summary>Registers <paramref name="state"/> and returns its handle. Call under <see cref="Gate"/>.</summary>
    public static nint Add(object state)
    {
        // Ids look like aligned pointers (and are never 0) so hosts that print or compare them see nothing odd.
        nint id = (nint)(0x10000 + Interlocked.Increment(ref _next) * 16);
        Live.Add(id, state);
        return id;
    }

    /// <summary>Removes a handle. Call under <see cref="Gate"/>.</summary>
    public static void Remove(nint handle) => Live.Remove(handle);

    /// <summary>The state of a live handle of type <typeparamref name="T"/>. Call under <see cref="Gate"/>.</summary>
    public static T Get<T>(nint handle, string what) where T : class
    {
        if (handle == 0)
            throw new NativeError(Status.InvalidHandle, $"The {what} handle is NULL.");
        if (!Live.TryGetValue(handle, out object? state))
            throw new NativeError(Status.InvalidHandle,
                $"0x{handle:x} is not a live {what} handle: it was already freed, or never returned by this library.");
        return state as T ?? throw new NativeError(Status.InvalidHandle,
            $"0x{handle:x} is an {KindOf(state)} handle, not an {what} handle.");
    }

    private static string KindOf(object state) => state switch
    {
        EngineState => "accelaes_engine",
        ModelState => "accelaes_model",
        _ => state.GetType().Name,
    };
}
