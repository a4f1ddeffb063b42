using System.Buffers.Binary;
using AccelAes.Loader.SafeTensors;
using Xunit.Abstractions;

namespace AccelAes.Loader.Tests.SafeTensors;

/// <summary>
/// Fuzzes a valid file with a fixed seed: every mutated file must either open with self-consistent tensors or be
/// refused with a <see cref="SafeTensorsFormatException"/>; no other exception, no hang.
/// </summary>
public sealed class HeaderMutationTests : IDisposable
{
    private const int Mutations = 600;
    private static readonly byte[] JsonBytes = "{}[]\":,-0123456789 .eE\\nulltrue_"u8.ToArray();

    private readonly TempDirectory _dir = new();
    private readonly ITestOutputHelper _output;

    public HeaderMutationTests(ITestOutputHelper output) => _output = output;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Mutated_files_open_consistently_or_fail_with_a_format_error()
    {
        var original = BuildValidFile();
        var random = new Random(20240611);
        var outcomes = new Dictionary<string, int>();

        var run = Task.Run(() =>
        {
            for (var i = 0; i < Mutations; i++)
            {
                var (kind, mutated) = Mutate(original, random);
                var path = _dir.Write($"m{i}.safetensors", mutated);
                string outcome;
                try
                {
                    using var file = SafeTensorsFile.Open(path);
                    CheckConsistent(file);
                    outcome = "opened";
                }
                catch (SafeTensorsFormatException e)
                {
                    Assert.Contains(path, e.Message);
                    outcome = e.Problem.ToString();
                }
                catch (Exception e)
                {
                    Assert.Fail($"mutation {i} ({kind}) threw {e.GetType().Name}: {e.Message}");
                    throw;
                }
                File.Delete(path);
                outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
            }
        });

        var finished = await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(120)));
        Assert.True(finished == run, "mutation run did not finish in 120 s (a hang?)");
        await run;
        _output.WriteLine(string.Join(", ", outcomes.OrderByDescending(o => o.Value).Select(o => $"{o.Key}: {o.Value}")));
        // The mutations must exercise both paths and several distinct problems, or the test proves little.
        Assert.True(outcomes.GetValueOrDefault("opened") > 0, string.Join(", ", outcomes));
        Assert.True(outcomes.Count >= 8, string.Join(", ", outcomes));
    }

    private static byte[] BuildValidFile()
    {
        var writer = new SafeTensorsWriter().AddMetadata("format", "pt");
        var random = new Random(7);
        writer.Add("w.0", [2, 3], RandomFloats(random, 6));
        writer.Add("w.1", [4], RandomFloats(random, 4), SafeTensorDType.BF16);
        writer.Add("ids", SafeTensorDType.I64, [3], new byte[24]);
        writer.Add("mask", SafeTensorDType.U8, [5], new byte[] { 1, 0, 1, 1, 0 });
        writer.Add("empty", SafeTensorDType.F16, [0, 2], Array.Empty<byte>());
        using var dir = new TempDirectory();
        var path = dir.File("valid.safetensors");
        writer.Save(path);
        return File.ReadAllBytes(path);
    }

    private static float[] RandomFloats(Random random, int count) =>
        Enumerable.Range(0, count).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();

    private static (string Kind, byte[] Bytes) Mutate(byte[] original, Random random)
    {
        var headerLength = (int)BinaryPrimitives.ReadUInt64LittleEndian(original);
        var bytes = (byte[])original.Clone();
        int HeaderPosition() => 8 + random.Next(headerLength);
        switch (random.Next(9))
        {
            case 0:
                bytes[HeaderPosition()] = (byte)random.Next(256);
                return ("random header byte", bytes);
            case 1:
                bytes[HeaderPosition()] = JsonBytes[random.Next(JsonBytes.Length)];
                return ("json character", bytes);
            case 2:
                for (var k = random.Next(1, 4); k > 0; k--)
                    bytes[HeaderPosition()] = JsonBytes[random.Next(JsonBytes.Length)];
                return ("several json characters", bytes);
            case 3:
                return ("truncated", bytes[..random.Next(bytes.Length)]);
            case 4:
                BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)(headerLength + random.Next(-16, 17)));
                return ("length prefix nudged", bytes);
            case 5:
                BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)random.NextInt64() * (ulong)random.Next(1, 3));
                return ("length prefix random", bytes);
            case 6:
                return ("digit inserted", InsertIntoHeader(bytes, headerLength, random, (byte)('0' + random.Next(10))));
            case 7:
            {
                // Delete a span of the header and shorten the prefix to match: keeps the framing, breaks the JSON.
                var start = random.Next(headerLength);
                var count = Math.Min(random.Next(1, 12), headerLength - start);
                var result = bytes[..(8 + start)].Concat(bytes[(8 + start + count)..]).ToArray();
                BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)(headerLength - count));
                return ("header span deleted", result);
            }
            default:
                return ("data appended", bytes.Concat(new byte[random.Next(1, 9)]).ToArray());
        }
    }

    private static byte[] InsertIntoHeader(byte[] bytes, int headerLength, Random random, byte value)
    {
        var at = 8 + random.Next(headerLength);
        var result = bytes[..at].Append(value).Concat(bytes[at..]).ToArray();
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)(headerLength + 1));
        return result;
    }

    private static void CheckConsistent(SafeTensorsFile file)
    {
        var headerEnd = 8 + (long)BinaryPrimitives.ReadUInt64LittleEndian(File.ReadAllBytes(file.Path).AsSpan(0, 8));
        var expectedOffset = headerEnd;
        foreach (var tensor in file.Tensors)
        {
            Assert.Equal(expectedOffset, tensor.FileOffset);
            Assert.Equal(tensor.ElementCount * tensor.DType.ByteSize(), tensor.ByteLength);
            Assert.Equal(tensor.ByteLength, file.GetBytes(tensor).Length);
            Assert.Same(tensor, file[tensor.Name]);
            expectedOffset = tensor.FileOffset + tensor.ByteLength;
        }
        Assert.Equal(file.FileLength, expectedOffset);
    }
}
