using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;

namespace AccelAes.Cli.Tests.Fuzz;

/// <summary>
/// Edits a safetensors file's header in place, keeping the data: a tensor removed, its dtype or shape changed, the
/// length prefix or a header byte broken. The edits a hand-rolled conversion script or a bad download produce.
/// </summary>
internal static class SafeTensorsSurgery
{
    private static readonly string[] DTypes = ["I32", "U32", "I64", "F16", "BF16", "F64", "BOOL", "U8", "I8", "F8_E4M3", "Q4", "f32", ""];

    public static string Mutate(string path, FuzzDraw draw)
    {
        byte[] bytes = File.ReadAllBytes(path);
        if (bytes.Length < 8) return $"{path}: too short to edit";
        ulong declared = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        int choice = draw.Int(0, 7);
        if (choice == 0 || declared > (ulong)(bytes.Length - 8))
            return CorruptBytes(path, bytes, (int)Math.Min(declared, (ulong)(bytes.Length - 8)), draw);
        if (choice == 1)
        {
            ulong length = draw.Pick<ulong>(0, 1, declared + 1, declared - 1, (ulong)bytes.Length, 100UL << 20, ulong.MaxValue, 1UL << 62);
            BinaryPrimitives.WriteUInt64LittleEndian(bytes, length);
            File.WriteAllBytes(path, bytes);
            return $"{path}: header length prefix := {length}";
        }
        JsonObject header;
        try { header = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, (int)declared))!.AsObject(); }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException) { return CorruptBytes(path, bytes, (int)declared, draw); }
        var tensors = header.Where(p => p.Key != "__metadata__").Select(p => p.Key).ToList();
        if (tensors.Count == 0) return CorruptBytes(path, bytes, (int)declared, draw);
        string name = draw.PickFrom(tensors);
        var entry = header[name]!.AsObject();
        string what;
        switch (choice)
        {
            case 2:
                header.Remove(name);
                what = $"tensor '{name}' removed";
                break;
            case 3:
                string dtype = draw.Pick(DTypes);
                entry["dtype"] = dtype;
                what = $"'{name}' dtype := {dtype}";
                break;
            case 4:
            {
                var shape = entry["shape"]!.AsArray();
                long hostile = draw.Pick(0L, -1L, 1L << 40, long.MaxValue, 3L);
                if (shape.Count == 0 || draw.Chance(0.3)) shape.Add(hostile);
                else shape[draw.Int(0, shape.Count)] = hostile;
                what = $"'{name}' shape := {shape.ToJsonString()}";
                break;
            }
            case 5:
            {
                var offsets = entry["data_offsets"]!.AsArray();
                long hostile = draw.Pick(0L, -1L, (long)bytes.Length, long.MaxValue, 7L);
                offsets[draw.Int(0, 2)] = hostile;
                what = $"'{name}' data_offsets := {offsets.ToJsonString()}";
                break;
            }
            default:
                entry["dtype"] = 12345;
                what = $"'{name}' dtype := 12345 (a number)";
                break;
        }
        File.WriteAllBytes(path, Rebuild(header, bytes.AsSpan(8 + (int)declared)));
        return $"{path}: {what}";
    }

    private static string CorruptBytes(string path, byte[] bytes, int headerLength, FuzzDraw draw)
    {
        int count = draw.Int(1, 4);
        for (int k = 0; k < count && headerLength > 0; k++)
            bytes[8 + draw.Int(0, headerLength)] = (byte)draw.Pick<int>('"', '{', '}', '[', ']', ',', ':', '9', '-', 'e', 0, 0xFF, draw.Int(0, 256));
        File.WriteAllBytes(path, bytes);
        return $"{path}: {count} header byte(s) overwritten";
    }

    /// <summary>Length prefix + the header (space-padded to 8 bytes, as the format recommends) + the unchanged data.</summary>
    private static byte[] Rebuild(JsonObject header, ReadOnlySpan<byte> data)
    {
        byte[] json = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (json.Length + 7) / 8 * 8;
        var result = new byte[8 + padded + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)padded);
        json.CopyTo(result, 8);
        result.AsSpan(8 + json.Length, padded - json.Length).Fill((byte)' ');
        data.CopyTo(result.AsSpan(8 + padded));
        return result;
    }
}
