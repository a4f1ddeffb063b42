namespace AccelAes.Engine.Backends.Cuda;

/// <summary>
/// The pool blocks a captured CUDA graph owns (<see cref="DeviceMemoryPool.BeginReservation"/>). A graph's kernels
/// read and write fixed addresses on every replay, so every block rented or returned while the capture records is
/// the graph's until it is released: a block that such a tensor gives back later is held here instead of going
/// back to the free lists, where eager work between two replays could take it and be overwritten.
/// </summary>
public sealed class PoolReservation
{
    internal PoolReservation(string name) => Name = name;

    /// <summary>The graph (for messages).</summary>
    public string Name { get; }

    /// <summary>True while the capture records (blocks then move freely inside the reservation).</summary>
    public bool IsOpen { get; internal set; } = true;

    /// <summary>True once the graph is gone and its blocks are back in the pool.</summary>
    public bool IsReleased { get; internal set; }

    /// <summary>Every block this graph owns (address → class bytes).</summary>
    internal Dictionary<ulong, ulong> Blocks { get; } = new();

    /// <summary>Owned blocks no tensor holds any more, kept for the graph (counted as in use by the pool).</summary>
    internal HashSet<ulong> Held { get; } = new();

    /// <summary>Blocks the graph owns.</summary>
    public int BlockCount => Blocks.Count;

    /// <summary>Bytes the graph owns.</summary>
    public ulong Bytes => Blocks.Values.Aggregate(0UL, (a, b) => a + b);
}
