using System.Buffers.Binary;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.Tests.SafeTensors;

public sealed class SafeTensorsThroughputTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Every_byte_is_read_and_the_checksum_does_not_depend_on_threads()
    {
        var random = new Random(61);
        var writer = new SafeTensorsWriter();
        var tensors = new List<byte[]>();
        // Odd sizes leave partial words; one tensor spans several 16 MiB chunks.
        foreach (var size in new[] { 1, 7, 8, 9, 1000, 333, (16 << 20) * 2 + 13 })
        {
            var data = new byte[size];
            random.NextBytes(data);
            tensors.Add(data);
            writer.Add($"t{tensors.Count}", SafeTensorDType.U8, [size], data);
        }
        var path = _dir.File("bench.safetensors");
        writer.Save(path);
        using var set = SafeTensorsSet.OpenFile(path);

        var single = SafeTensorsThroughput.ReadAll(set);
        var multi = SafeTensorsThroughput.ReadAll(set, threads: 4);

        Assert.Equal(tensors.Sum(t => (long)t.Length), single.Bytes);
        Assert.Equal(single.Bytes, multi.Bytes);
        Assert.Equal(1, single.Threads);
        Assert.Equal(4, multi.Threads);
        var expected = tensors.Aggregate(0UL, (sum, t) => sum + NaiveChecksum(t));
        Assert.Equal(expected, single.Checksum);
        Assert.Equal(expected, multi.Checksum);
        Assert.True(single.GigabytesPerSecond > 0);
    }

    [Fact]
    public void Checksum_vector_paths_agree_with_the_scalar_definition()
    {
        var random = new Random(67);
        for (var length = 0; length < 300; length += 7)
        {
            var data = new byte[length + 3];
            random.NextBytes(data);
            // Offset by 3 so the vector loads are unaligned.
            Assert.Equal(NaiveChecksum(data[3..]), SafeTensorsThroughput.Checksum(data.AsSpan(3)));
        }
    }

    private static ulong NaiveChecksum(byte[] data)
    {
        ulong sum = 0;
        var padded = new byte[(data.Length + 7) / 8 * 8];
        data.CopyTo(padded, 0);
        for (var i = 0; i < padded.Length; i += 8)
            sum += BinaryPrimitives.ReadUInt64LittleEndian(padded.AsSpan(i));
        return sum;
    }
}
