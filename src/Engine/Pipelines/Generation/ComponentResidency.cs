using AccelAes.Loader.Diffusers;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Planning;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Pipelines.Generation;

/// <summary>
/// Which weights of a text-to-image pipeline are on its backend, and when (DESIGN §8). Under
/// <see cref="ResidencyPolicy.None"/> every component loads at construction, in the pipeline's order, and stays.
/// Under <see cref="ResidencyPolicy.Encoders"/> nothing loads at construction; each generation loads the text encoders
/// for encoding and frees them before the transformer and VAE load, and frees those before the next generation's
/// encoders load. The two sets are never on the device together: that is what the plan's encoders peaks assume
/// (encode = encoders + their activations; denoise and decode = transformer + VAE + theirs). A host that keeps the
/// model (the C ABI) therefore keeps the transformer and VAE from one generation's denoise to the next one's encode,
/// and reloads them after it: on a card where they cannot sit beside the encoders there is no cheaper correct order.
/// <see cref="ResidencyPolicy.Sequential"/> swaps the same two sets, and on the CUDA backend loads the transformer's
/// blocks into a <see cref="BlockWeightStream"/> (page-locked host memory, two device slots; see
/// <see cref="AddTransformer"/>), freed with the transformer. On the CPU backend there is no device to stream to: the
/// blocks load as usual (sequential then runs as encoders does, with the same arithmetic).
/// </summary>
public sealed class ComponentResidency
{
    private sealed class Slot(bool textEncoder, Func<BlockWeightStream?, object> load, bool streamsBlocks)
    {
        public bool TextEncoder { get; } = textEncoder;
        public Func<BlockWeightStream?, object> Load { get; } = load;
        public bool StreamsBlocks { get; } = streamsBlocks;
        public object? Model { get; set; }
        public BlockWeightStream? Stream { get; set; }
    }

    private readonly List<(string Name, Slot Slot)> _slots = [];
    private readonly IBackend _backend;
    private readonly ModelFolder _folder;

    /// <param name="folder">The pipeline folder whose components (named as its subfolders) are declared.</param>
    public ComponentResidency(IBackend backend, ResidencyPolicy policy, ModelFolder folder)
    {
        _backend = backend;
        _folder = folder;
        Policy = policy;
    }

    public ResidencyPolicy Policy { get; }

    /// <summary>Whether the text encoders leave the device after encoding (and the denoising components before it).</summary>
    public bool OffloadsEncoders => Policy != ResidencyPolicy.None;

    /// <summary>Whether the transformer's blocks are streamed from page-locked host memory (sequential, on the CUDA backend).</summary>
    public bool StreamsBlocks => Policy == ResidencyPolicy.Sequential && _backend is CudaBackend;

    /// <summary>
    /// Declares component <paramref name="name"/> (its subfolder), in the order the pipeline loads it; <paramref name="load"/>
    /// builds its model on the backend. The subfolder is checked now, so a listed component whose folder is missing is an
    /// error naming it when the pipeline opens, also under a policy that loads it only later.
    /// </summary>
    public ComponentResidency Add(string name, bool textEncoder, Func<object> load)
    {
        _ = _folder.Component(name);
        _slots.Add((name, new Slot(textEncoder, _ => load(), streamsBlocks: false)));
        return this;
    }

    /// <summary>
    /// Declares the transformer (as <see cref="Add"/>): <paramref name="load"/> gets the stream its block weights go into
    /// under <see cref="StreamsBlocks"/> (a new one each time it loads, disposed when the model is freed), else null.
    /// </summary>
    public ComponentResidency AddTransformer(string name, Func<BlockWeightStream?, object> load)
    {
        _ = _folder.Component(name);
        _slots.Add((name, new Slot(textEncoder: false, load, streamsBlocks: true)));
        return this;
    }

    /// <summary>At construction: all-resident pipelines load everything now, in declaration order (the errors of a bad folder come at load, as always).</summary>
    public void LoadResident()
    {
        if (OffloadsEncoders) return;
        foreach (var (name, _) in _slots) Get<object>(name);
    }

    /// <summary>The model of component <paramref name="name"/>, loaded now if it is not on the backend.</summary>
    public T Get<T>(string name) where T : class
    {
        var slot = _slots.First(s => s.Name == name).Slot;
        if (slot.Model is null)
        {
            BlockWeightStream? stream = slot.StreamsBlocks && StreamsBlocks ? ((CudaBackend)_backend).CreateBlockStream() : null;
            try
            {
                slot.Model = slot.Load(stream);
            }
            catch
            {
                stream?.Dispose();
                throw;
            }
            slot.Stream = stream;
        }
        return (T)slot.Model;
    }

    /// <summary>Before encoding: under encoders, frees the transformer and VAE and loads the text encoders (timed as a phase of the run).</summary>
    public void BeginEncoding(List<PhaseTiming> timings) => Swap(toEncoders: true, timings, "load text encoders");

    /// <summary>
    /// After encoding (and AesMask's word scoring, which runs the CLIP encoder): under encoders, frees them and loads the
    /// transformer and VAE (timed as a phase of the run).
    /// </summary>
    public void EndEncoding(List<PhaseTiming> timings) => Swap(toEncoders: false, timings, "load transformer and vae");

    private void Swap(bool toEncoders, List<PhaseTiming> timings, string phase)
    {
        if (!OffloadsEncoders) return;
        GenerationSupport.Timed(_backend, timings, phase, () => Swap(toEncoders));
    }

    private bool Swap(bool toEncoders)
    {
        bool freed = false;
        foreach (var (_, slot) in _slots.Where(s => s.Slot.TextEncoder != toEncoders && s.Slot.Model is not null))
        {
            slot.Model = null;
            // The stream waits for the queued work that reads its slots, then gives them and its host copies back.
            slot.Stream?.Dispose();
            slot.Stream = null;
            freed = true;
        }
        if (freed) ReleaseDeviceMemory();
        foreach (var (name, _) in _slots.Where(s => s.Slot.TextEncoder == toEncoders)) Get<object>(name);
        return freed;
    }

    /// <summary>
    /// The models hold their weights as tensors nobody disposes one by one: once unreachable, a collection runs their
    /// finalizers, which hand the blocks back to the pool, and trimming the pool gives the device memory back to the
    /// driver before the next set is uploaded (rather than leaving it cached in size classes the next set may not use).
    /// </summary>
    private void ReleaseDeviceMemory()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        if (_backend is CudaBackend cuda) cuda.TrimMemory();
    }
}
