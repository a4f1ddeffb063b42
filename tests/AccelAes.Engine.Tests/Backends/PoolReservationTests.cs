using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// The memory side of CUDA graph capture (<see cref="PoolReservation"/>), with a fake device: a capture rents only
/// cached blocks, and every block it touched stays the graph's — out of the free lists — until the graph is released.
/// </summary>
public class PoolReservationTests
{
    private sealed class FakeMemory : IDeviceMemory
    {
        private ulong _next = 0x1000_0000;
        public int Allocations;

        public ulong TryAllocate(ulong bytes)
        {
            Allocations++;
            ulong a = _next;
            _next += (bytes + 255) / 256 * 256 + 256;
            return a;
        }

        public void Free(ulong address, ulong bytes) { }

        public Exception OutOfMemory(ulong bytes, string? what) => new InvalidOperationException($"OOM {bytes} {what}");

        public void Synchronize() { }
    }

    [Fact]
    public void A_recording_rents_only_cached_blocks_and_names_the_op_that_needed_more()
    {
        var memory = new FakeMemory();
        using var pool = new DeviceMemoryPool(memory);
        pool.Return(pool.Rent(1000)); // warm: one 1 KiB block cached
        var reservation = pool.BeginReservation("step");
        var block = pool.Rent(1000, "Linear");
        Assert.Equal(1, memory.Allocations);
        var e = Assert.Throws<GraphCaptureException>(() => pool.Rent(5000, "Attention"));
        Assert.Equal("Attention", e.Op);
        Assert.Contains("fresh device memory", e.Message);
        Assert.Equal(1, memory.Allocations);
        pool.Return(block);
        pool.ReleaseReservation(reservation);
    }

    [Fact]
    public void Blocks_a_graph_touched_stay_out_of_the_free_lists_until_it_is_released()
    {
        using var pool = new DeviceMemoryPool(new FakeMemory());
        var before = pool.Rent(1000); // an input the graph reads, freed during the capture
        var a = pool.Rent(1000);
        var b = pool.Rent(1000);
        pool.Return(a);
        pool.Return(b);

        var reservation = pool.BeginReservation("step");
        var inGraph = pool.Rent(1000);   // reuses b (LIFO)
        var output = pool.Rent(1000);    // reuses a
        pool.Return(inGraph);            // an intermediate, free again inside the capture
        pool.Return(before);             // the graph read it: it becomes the graph's too
        pool.EndReservation(reservation);

        Assert.Equal(3, reservation.BlockCount);
        Assert.Equal(0, pool.Statistics.BlocksCached); // nothing the graph touched is rentable
        var eager = pool.Rent(1000);
        Assert.DoesNotContain(eager.Address, new[] { inGraph.Address, output.Address, before.Address });

        pool.Return(output);             // the caller drops the output: still the graph's
        Assert.Equal(0, pool.Statistics.BlocksCached);

        pool.ReleaseReservation(reservation);
        Assert.Equal(3, pool.Statistics.BlocksCached);
        var again = pool.Rent(1000);
        Assert.Contains(again.Address, new[] { inGraph.Address, output.Address, before.Address });
        pool.Return(again);
        pool.Return(eager);
    }

    [Fact]
    public void A_block_returned_after_release_goes_back_normally_and_double_returns_are_caught()
    {
        using var pool = new DeviceMemoryPool(new FakeMemory());
        pool.Return(pool.Rent(600));
        var reservation = pool.BeginReservation("step");
        var output = pool.Rent(600);
        pool.EndReservation(reservation);
        pool.ReleaseReservation(reservation);
        pool.Return(output);
        Assert.Equal(1, pool.Statistics.BlocksCached);
        Assert.Throws<InvalidOperationException>(() => pool.Return(output));
    }

    [Fact]
    public void Captures_do_not_nest()
    {
        using var pool = new DeviceMemoryPool(new FakeMemory());
        var reservation = pool.BeginReservation("one");
        Assert.Throws<InvalidOperationException>(() => pool.BeginReservation("two"));
        pool.ReleaseReservation(reservation);
        pool.ReleaseReservation(pool.BeginReservation("two"));
    }
}
