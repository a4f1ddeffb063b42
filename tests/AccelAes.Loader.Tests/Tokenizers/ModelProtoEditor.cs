using System.Text;

namespace AccelAes.Loader.Tests.Tokenizers;

/// <summary>Edits a SentencePiece .model (protobuf) for tests: changes the type of one piece.</summary>
internal static class ModelProtoEditor
{
    public static byte[] SetPieceType(byte[] model, string piece, int type)
    {
        var output = new MemoryStream();
        int pos = 0;
        bool found = false;
        while (pos < model.Length)
        {
            int start = pos;
            ulong tag = Varint(model, ref pos);
            int field = (int)(tag >> 3), wireType = (int)(tag & 7);
            if (wireType == 2)
            {
                int length = (int)Varint(model, ref pos);
                if (field == 1 && PieceString(model, pos, length) == piece)
                {
                    byte[] message = RewritePiece(model, pos, length, type);
                    WriteVarint(output, tag);
                    WriteVarint(output, (ulong)message.Length);
                    output.Write(message);
                    pos += length;
                    found = true;
                    continue;
                }

                pos += length;
            }
            else if (wireType == 0) Varint(model, ref pos);
            else if (wireType == 5) pos += 4;
            else if (wireType == 1) pos += 8;
            else throw new InvalidDataException("unexpected wire type");
            output.Write(model, start, pos - start);
        }

        if (!found) throw new ArgumentException($"no piece '{piece}'");
        return output.ToArray();
    }

    private static string? PieceString(byte[] b, int pos, int length)
    {
        int end = pos + length;
        while (pos < end)
        {
            ulong tag = Varint(b, ref pos);
            int field = (int)(tag >> 3), wireType = (int)(tag & 7);
            if (wireType == 2)
            {
                int n = (int)Varint(b, ref pos);
                if (field == 1) return Encoding.UTF8.GetString(b, pos, n);
                pos += n;
            }
            else if (wireType == 0) Varint(b, ref pos);
            else if (wireType == 5) pos += 4;
            else pos += 8;
        }

        return null;
    }

    private static byte[] RewritePiece(byte[] b, int pos, int length, int type)
    {
        var output = new MemoryStream();
        int end = pos + length;
        while (pos < end)
        {
            int start = pos;
            ulong tag = Varint(b, ref pos);
            int field = (int)(tag >> 3), wireType = (int)(tag & 7);
            if (wireType == 2)
            {
                int n = (int)Varint(b, ref pos);
                pos += n;
            }
            else if (wireType == 0) Varint(b, ref pos);
            else if (wireType == 5) pos += 4;
            else pos += 8;
            if (field != 3) output.Write(b, start, pos - start);
        }

        WriteVarint(output, (3 << 3) | 0);
        WriteVarint(output, (ulong)type);
        return output.ToArray();
    }

    private static ulong Varint(byte[] b, ref int pos)
    {
        ulong r = 0;
        for (int shift = 0; ; shift += 7)
        {
            byte x = b[pos++];
            r |= (ulong)(x & 0x7F) << shift;
            if ((x & 0x80) == 0) return r;
        }
    }

    private static void WriteVarint(Stream s, ulong v)
    {
        while (v >= 0x80)
        {
            s.WriteByte((byte)(v | 0x80));
            v >>= 7;
        }

        s.WriteByte((byte)v);
    }
}
