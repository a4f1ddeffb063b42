using System.Text;
using AccelAes.Loader.Files;
using AccelAes.Loader.Validation;

namespace AccelAes.Loader.Tokenizers;

/// <summary>SentencePiece piece types (sentencepiece_model.proto, <c>SentencePiece.Type</c>).</summary>
internal enum PieceType
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>
/// A SentencePiece <c>ModelProto</c> (.model file) read straight from its protobuf wire format: the pieces
/// and the trainer / normalizer fields the tokenizers need, and the raw bytes for Microsoft.ML.Tokenizers.
/// (Microsoft.ML.Tokenizers 2.0.1 keeps its generated <c>ModelProto</c> class internal, so the file cannot be
/// inspected or edited through it.)
/// </summary>
internal sealed class SentencePieceModelFile
{
    // ModelProto fields.
    private const int PiecesField = 1, TrainerSpecField = 2, NormalizerSpecField = 3;

    // ModelProto.SentencePiece fields.
    private const int PieceField = 1, ScoreField = 2, TypeField = 3;

    // TrainerSpec fields.
    private const int ModelTypeField = 3, ByteFallbackField = 35, UnkIdField = 40, BosIdField = 41, EosIdField = 42, PadIdField = 43;
    private const int UnkPieceField = 45, BosPieceField = 46, EosPieceField = 47, PadPieceField = 48;

    // NormalizerSpec fields.
    private const int NameField = 1, AddDummyPrefixField = 3, RemoveExtraWhitespacesField = 4;

    private SentencePieceModelFile(string path, byte[] bytes)
    {
        Path = path;
        Bytes = bytes;
    }

    public string Path { get; }

    public byte[] Bytes { get; }

    public List<(string Piece, float Score, PieceType Type)> Pieces { get; } = new();

    /// <summary>1 = unigram (the proto default), 2 = BPE, 3 = word, 4 = char.</summary>
    public int ModelType { get; private set; } = 1;

    public bool IsUnigram => ModelType == 1;

    public bool IsBpe => ModelType == 2;

    public bool ByteFallback { get; private set; }

    // Proto defaults: unk 0, bos 1, eos 2, pad -1.
    public int UnkId { get; private set; }
    public int BosId { get; private set; } = 1;
    public int EosId { get; private set; } = 2;
    public int PadId { get; private set; } = -1;
    public string UnkPiece { get; private set; } = "<unk>";
    public string BosPiece { get; private set; } = "<s>";
    public string EosPiece { get; private set; } = "</s>";
    public string PadPiece { get; private set; } = "<pad>";

    public string NormalizerName { get; private set; } = "";
    public bool AddDummyPrefix { get; private set; } = true;
    public bool RemoveExtraWhitespaces { get; private set; } = true;

    public static SentencePieceModelFile Read(string path)
    {
        byte[] bytes;
        try
        {
            bytes = InputFile.ReadAllBytes(path, InputLimits.MaxTokenizerFileBytes, "SentencePiece model");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TokenizerException($"SentencePiece model '{path}' cannot be read: {e.Message}", e);
        }

        var model = new SentencePieceModelFile(path, bytes);
        try
        {
            model.Parse();
        }
        catch (FormatException e)
        {
            throw new TokenizerException($"SentencePiece model '{path}' is not a valid SentencePiece .model file: {e.Message}.", e);
        }

        if (model.Pieces.Count == 0) throw new TokenizerException($"SentencePiece model '{path}' has no pieces.");
        if (!model.IsUnigram && !model.IsBpe)
        {
            throw new TokenizerException($"SentencePiece model '{path}' has model_type {model.ModelType}; only unigram (1) and BPE (2) are supported.");
        }

        if (model.UnkId < 0 || model.UnkId >= model.Pieces.Count || model.Pieces[model.UnkId].Type != PieceType.Unknown)
        {
            throw new TokenizerException($"SentencePiece model '{path}': unk_id {model.UnkId} is not the id of its UNKNOWN piece.");
        }

        foreach ((string name, int id) in new[] { ("bos_id", model.BosId), ("eos_id", model.EosId), ("pad_id", model.PadId) })
        {
            if (id >= model.Pieces.Count) throw new TokenizerException($"SentencePiece model '{path}': {name} {id} is outside its {model.Pieces.Count} pieces.");
        }

        return model;
    }

    private void Parse()
    {
        var reader = new WireReader(Bytes, 0, Bytes.Length);
        while (reader.Next(out int field, out int wireType))
        {
            switch (field)
            {
                case PiecesField when wireType == WireReader.LengthDelimited:
                    if (Pieces.Count >= InputLimits.MaxVocabularySize)
                        throw new FormatException($"it has more than {InputLimits.MaxVocabularySize} pieces, the vocabulary limit");
                    Pieces.Add(ParsePiece(reader.ReadMessage()));
                    break;
                case TrainerSpecField when wireType == WireReader.LengthDelimited:
                    ParseTrainerSpec(reader.ReadMessage());
                    break;
                case NormalizerSpecField when wireType == WireReader.LengthDelimited:
                    ParseNormalizerSpec(reader.ReadMessage());
                    break;
                default:
                    reader.Skip(wireType);
                    break;
            }
        }
    }

    private static (string, float, PieceType) ParsePiece(WireReader r)
    {
        string piece = "";
        float score = 0;
        var type = PieceType.Normal;
        while (r.Next(out int field, out int wireType))
        {
            if (field == PieceField && wireType == WireReader.LengthDelimited) piece = r.ReadString();
            else if (field == ScoreField && wireType == WireReader.Fixed32) score = r.ReadFloat();
            else if (field == TypeField && wireType == WireReader.Varint) type = (PieceType)(int)r.ReadVarint();
            else r.Skip(wireType);
        }

        return (piece, score, type);
    }

    private void ParseTrainerSpec(WireReader r)
    {
        while (r.Next(out int field, out int wireType))
        {
            if (wireType == WireReader.Varint)
            {
                long v = (long)r.ReadVarint();
                switch (field)
                {
                    case ModelTypeField: ModelType = (int)v; break;
                    case ByteFallbackField: ByteFallback = v != 0; break;
                    case UnkIdField: UnkId = (int)v; break;
                    case BosIdField: BosId = (int)v; break;
                    case EosIdField: EosId = (int)v; break;
                    case PadIdField: PadId = (int)v; break;
                }
            }
            else if (wireType == WireReader.LengthDelimited && field is UnkPieceField or BosPieceField or EosPieceField or PadPieceField)
            {
                string s = r.ReadString();
                switch (field)
                {
                    case UnkPieceField: UnkPiece = s; break;
                    case BosPieceField: BosPiece = s; break;
                    case EosPieceField: EosPiece = s; break;
                    case PadPieceField: PadPiece = s; break;
                }
            }
            else
            {
                r.Skip(wireType);
            }
        }
    }

    private void ParseNormalizerSpec(WireReader r)
    {
        while (r.Next(out int field, out int wireType))
        {
            if (field == NameField && wireType == WireReader.LengthDelimited) NormalizerName = r.ReadString();
            else if (field == AddDummyPrefixField && wireType == WireReader.Varint) AddDummyPrefix = r.ReadVarint() != 0;
            else if (field == RemoveExtraWhitespacesField && wireType == WireReader.Varint) RemoveExtraWhitespaces = r.ReadVarint() != 0;
            else r.Skip(wireType);
        }
    }

    /// <summary>
    /// The model bytes to give Microsoft.ML.Tokenizers. Its 2.0.1 SentencePiece constructors write the
    /// bos and eos pieces into their id-indexed tables at <c>TrainerSpec.bos_id</c> / <c>eos_id</c>, so a
    /// model without a bos piece (<c>bos_id = -1</c>, which every real T5 spiece.model has) throws
    /// IndexOutOfRangeException while loading. The user's file is left alone; in this in-memory copy a
    /// negative bos_id / eos_id (and its piece name) are replaced by the unk id and piece. That only
    /// re-registers the unk piece, which is already there, and it is harmless because the tokenizers never
    /// ask Microsoft.ML.Tokenizers to add bos or eos: they add special tokens themselves, from the ids read
    /// here (<see cref="BosId"/> and <see cref="EosId"/> keep the file's values).
    /// </summary>
    public byte[] BytesForMicrosoftMLTokenizers()
    {
        if (BosId >= 0 && EosId >= 0) return Bytes;

        var output = new MemoryStream(Bytes.Length + 16);
        var reader = new WireReader(Bytes, 0, Bytes.Length);
        while (reader.Next(out int field, out int wireType))
        {
            int start = reader.TagStart;
            if (field == TrainerSpecField && wireType == WireReader.LengthDelimited)
            {
                byte[] spec = PatchTrainerSpec(reader.ReadMessage());
                WireWriter.Tag(output, TrainerSpecField, WireReader.LengthDelimited);
                WireWriter.Varint(output, (ulong)spec.Length);
                output.Write(spec);
            }
            else
            {
                reader.Skip(wireType);
                output.Write(Bytes, start, reader.Position - start);
            }
        }

        return output.ToArray();
    }

    private byte[] PatchTrainerSpec(WireReader r)
    {
        var output = new MemoryStream();
        while (r.Next(out int field, out int wireType))
        {
            int start = r.TagStart;
            r.Skip(wireType);
            bool replaced = (BosId < 0 && field is BosIdField or BosPieceField) || (EosId < 0 && field is EosIdField or EosPieceField);
            if (!replaced) output.Write(r.Buffer, start, r.Position - start);
        }

        if (BosId < 0)
        {
            WireWriter.Tag(output, BosIdField, WireReader.Varint);
            WireWriter.Varint(output, (ulong)UnkId);
            WireWriter.String(output, BosPieceField, UnkPiece);
        }

        if (EosId < 0)
        {
            WireWriter.Tag(output, EosIdField, WireReader.Varint);
            WireWriter.Varint(output, (ulong)UnkId);
            WireWriter.String(output, EosPieceField, UnkPiece);
        }

        return output.ToArray();
    }

    /// <summary>Minimal protobuf wire-format reader over a slice of a buffer.</summary>
    private sealed class WireReader
    {
        public const int Varint = 0, Fixed64 = 1, LengthDelimited = 2, Fixed32 = 5;

        private readonly int _end;

        public WireReader(byte[] buffer, int start, int end)
        {
            Buffer = buffer;
            Position = start;
            _end = end;
        }

        public byte[] Buffer { get; }

        public int Position { get; private set; }

        public int TagStart { get; private set; }

        public bool Next(out int field, out int wireType)
        {
            TagStart = Position;
            if (Position >= _end)
            {
                field = wireType = 0;
                return false;
            }

            ulong tag = ReadVarint();
            field = (int)(tag >> 3);
            wireType = (int)(tag & 7);
            if (field == 0) throw new FormatException($"field number 0 at byte {TagStart}");
            return true;
        }

        public ulong ReadVarint()
        {
            ulong result = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                if (Position >= _end) throw new FormatException($"varint runs past the end at byte {Position}");
                byte b = Buffer[Position++];
                result |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0) return result;
            }

            throw new FormatException($"varint longer than 10 bytes at byte {Position}");
        }

        public float ReadFloat()
        {
            Need(4);
            float v = BitConverter.ToSingle(Buffer, Position);
            Position += 4;
            return v;
        }

        public WireReader ReadMessage()
        {
            int length = ReadLength();
            var inner = new WireReader(Buffer, Position, Position + length);
            Position += length;
            return inner;
        }

        public string ReadString()
        {
            int length = ReadLength();
            string s;
            try
            {
                s = new UTF8Encoding(false, true).GetString(Buffer, Position, length);
            }
            catch (DecoderFallbackException)
            {
                throw new FormatException($"a string at byte {Position} is not valid UTF-8");
            }

            Position += length;
            return s;
        }

        public void Skip(int wireType)
        {
            switch (wireType)
            {
                case Varint: ReadVarint(); break;
                case Fixed64: Need(8); Position += 8; break;
                case LengthDelimited:
                    int length = ReadLength(); // read before Position: "Position += ReadLength()" would use the old value
                    Position += length;
                    break;
                case Fixed32: Need(4); Position += 4; break;
                default: throw new FormatException($"unsupported wire type {wireType} at byte {TagStart}");
            }
        }

        private int ReadLength()
        {
            ulong length = ReadVarint();
            if (length > (ulong)(_end - Position)) throw new FormatException($"a field of {length} bytes at byte {Position} runs past the end");
            return (int)length;
        }

        private void Need(int n)
        {
            if (_end - Position < n) throw new FormatException($"a {n}-byte field at byte {Position} runs past the end");
        }
    }

    private static class WireWriter
    {
        public static void Tag(Stream s, int field, int wireType) => Varint(s, (ulong)((field << 3) | wireType));

        public static void Varint(Stream s, ulong v)
        {
            while (v >= 0x80)
            {
                s.WriteByte((byte)(v | 0x80));
                v >>= 7;
            }

            s.WriteByte((byte)v);
        }

        public static void String(Stream s, int field, string value)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(value);
            Tag(s, field, WireReader.LengthDelimited);
            Varint(s, (ulong)bytes.Length);
            s.Write(bytes);
        }
    }
}
