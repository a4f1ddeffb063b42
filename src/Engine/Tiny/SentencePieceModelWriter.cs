using System.Text;

namespace AccelAes.Engine.Tiny;

/// <summary>SentencePiece piece types (sentencepiece_model.proto, <c>ModelProto.SentencePiece.Type</c>).</summary>
internal enum SentencePieceType
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>One vocabulary entry of a SentencePiece model.</summary>
internal readonly record struct SentencePieceEntry(string Piece, float Score, SentencePieceType Type = SentencePieceType.Normal);

/// <summary>
/// Writes a SentencePiece <c>ModelProto</c> (the .model file T5's and Gemma's tokenizers load) in the protobuf wire
/// format, field numbers as in sentencepiece_model.proto: <c>pieces</c> = 1 (piece 1, score 2, type 3),
/// <c>trainer_spec</c> = 2, <c>normalizer_spec</c> = 3. Only the fields a tokenizer reads are written; the
/// sentencepiece library and the engine's loader take the proto defaults for the rest.
/// </summary>
internal sealed class SentencePieceModelWriter
{
    /// <summary>TrainerSpec.model_type: 1 = unigram (T5), 2 = BPE (Gemma).</summary>
    public required int ModelType { get; init; }
    public required IReadOnlyList<SentencePieceEntry> Pieces { get; init; }
    public bool ByteFallback { get; init; }
    public bool SplitDigits { get; init; }
    public bool AllowWhitespaceOnlyPieces { get; init; }
    public required int UnkId { get; init; }
    public required int BosId { get; init; }
    public required int EosId { get; init; }
    public required int PadId { get; init; }
    public string UnkPiece { get; init; } = "<unk>";
    public string BosPiece { get; init; } = "<s>";
    public string EosPiece { get; init; } = "</s>";
    public string PadPiece { get; init; } = "<pad>";

    /// <summary>NormalizerSpec.name. "identity" needs no precompiled charsmap (nmt_nfkc would).</summary>
    public string NormalizerName { get; init; } = "identity";
    public bool AddDummyPrefix { get; init; } = true;
    public bool RemoveExtraWhitespaces { get; init; } = true;
    public bool EscapeWhitespaces { get; init; } = true;

    public byte[] ToBytes()
    {
        var model = new MemoryStream();
        foreach (var entry in Pieces)
        {
            var piece = new MemoryStream();
            String(piece, 1, entry.Piece);
            Tag(piece, 2, 5);
            piece.Write(BitConverter.GetBytes(entry.Score));
            Int(piece, 3, (int)entry.Type);
            Message(model, 1, piece);
        }

        var trainer = new MemoryStream();
        Int(trainer, 3, ModelType);
        Int(trainer, 4, Pieces.Count);
        if (SplitDigits) Int(trainer, 25, 1);
        if (AllowWhitespaceOnlyPieces) Int(trainer, 26, 1);
        if (ByteFallback) Int(trainer, 35, 1);
        Int(trainer, 40, UnkId);
        Int(trainer, 41, BosId);
        Int(trainer, 42, EosId);
        Int(trainer, 43, PadId);
        String(trainer, 45, UnkPiece);
        String(trainer, 46, BosPiece);
        String(trainer, 47, EosPiece);
        String(trainer, 48, PadPiece);
        Message(model, 2, trainer);

        var normalizer = new MemoryStream();
        String(normalizer, 1, NormalizerName);
        Int(normalizer, 3, AddDummyPrefix ? 1 : 0);
        Int(normalizer, 4, RemoveExtraWhitespaces ? 1 : 0);
        Int(normalizer, 5, EscapeWhitespaces ? 1 : 0);
        Message(model, 3, normalizer);
        return model.ToArray();
    }

    private static void Tag(Stream s, int field, int wireType) => Varint(s, (ulong)((field << 3) | wireType));

    /// <summary>An int32 field: negative values are written sign-extended to 64 bits (ten bytes), as protobuf does.</summary>
    private static void Int(Stream s, int field, int value)
    {
        Tag(s, field, 0);
        Varint(s, unchecked((ulong)(long)value));
    }

    private static void String(Stream s, int field, string value)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(value);
        Tag(s, field, 2);
        Varint(s, (ulong)bytes.Length);
        s.Write(bytes);
    }

    private static void Message(Stream s, int field, MemoryStream message)
    {
        Tag(s, field, 2);
        Varint(s, (ulong)message.Length);
        message.Position = 0;
        message.CopyTo(s);
    }

    private static void Varint(Stream s, ulong v)
    {
        while (v >= 0x80)
        {
            s.WriteByte((byte)(v | 0x80));
            v >>= 7;
        }
        s.WriteByte((byte)v);
    }
}
