using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using AccelAes.Loader.SafeTensors;
using AccelAes.Loader.Validation;

namespace AccelAes.Loader.PyTorch;

/// <summary>
/// A pickle interpreter restricted as <c>torch.load(weights_only=True)</c> is (torch/_weights_only_unpickler.py,
/// pytorch/pytorch commit 00f730b66e58769f9698d9236f58cd46c3794115): it builds tensors, storages, (ordered) dicts and
/// plain containers, numbers and strings, and nothing else. GLOBAL and STACK_GLOBAL are looked up in
/// <see cref="WeightsOnlyGlobals"/>; REDUCE, NEWOBJ and BUILD only apply the fixed constructions those globals stand
/// for. Any other global is refused by name with <see cref="PyTorchCheckpointProblem.ForbiddenGlobal"/> the moment it
/// is read — nothing is ever imported, looked up by name or executed.
/// </summary>
/// <remarks>
/// Opcodes: torch's own set (protocol 2: the ones <c>torch.save</c> emits) plus the protocol 3–5 framing, string,
/// bytes, set and memo opcodes (FRAME, STACK_GLOBAL, MEMOIZE, SHORT_BINUNICODE, BINUNICODE8, BINBYTES*, EMPTY_SET,
/// ADDITEMS, FROZENSET, POP, POP_MARK, DUP), which build nothing executable. Text-protocol opcodes (protocol 0/1),
/// INST, OBJ, NEWOBJ_EX, EXT* and the text PERSID are refused as unknown: torch.save never writes them and INST/OBJ
/// would instantiate classes.
/// </remarks>
internal sealed class WeightsOnlyUnpickler
{
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    private readonly byte[] _data;
    private readonly string _path;
    private readonly Func<PickleTuple, TorchStorage> _persistentLoad;
    private readonly Dictionary<long, object?> _memo = [];
    private readonly Stack<List<object?>> _marks = new();
    private List<object?> _stack = [];
    private int _position;

    private WeightsOnlyUnpickler(byte[] data, string path, Func<PickleTuple, TorchStorage> persistentLoad)
    {
        _data = data;
        _path = path;
        _persistentLoad = persistentLoad;
    }

    /// <summary>Interprets <paramref name="pickle"/> and returns the object it describes.</summary>
    /// <param name="persistentLoad">Resolves a persistent id <c>('storage', …)</c> to the storage record it names.</param>
    /// <exception cref="PyTorchCheckpointException">The pickle is malformed, forbidden or unsupported.</exception>
    internal static object? Load(byte[] pickle, string path, Func<PickleTuple, TorchStorage> persistentLoad) =>
        new WeightsOnlyUnpickler(pickle, path, persistentLoad).Run();

    private object? Run()
    {
        while (true)
        {
            var at = _position;
            var opcode = ReadByte();
            switch (opcode)
            {
                case 0x80: // PROTO
                    var protocol = ReadByte();
                    if (protocol is < 2 or > 5)
                        throw Malformed($"pickle protocol {protocol} is not one torch.save writes (2–5 are read).", at);
                    break;
                case 0x95: // FRAME: a length prefix for buffering, nothing to build
                    Take(8);
                    break;
                case (byte)'.': // STOP
                    if (_marks.Count > 0 || _stack.Count != 1)
                        throw Malformed("the pickle stops with an unbalanced stack.", at);
                    return _stack[0];
                case (byte)'(': // MARK
                    if (_marks.Count >= InputLimits.MaxPickleNesting)
                        throw new PyTorchCheckpointException(PyTorchCheckpointProblem.LimitExceeded, _path,
                            $"the pickle nests more than {InputLimits.MaxPickleNesting} levels deep (at byte {at}).");
                    _marks.Push(_stack);
                    _stack = [];
                    break;
                case (byte)'0': Pop(at); break;            // POP
                case (byte)'1': PopMark(at); break;        // POP_MARK
                case (byte)'2': Push(Peek(at)); break;     // DUP
                case (byte)'N': Push(null); break;         // NONE
                case 0x88: Push(true); break;              // NEWTRUE
                case 0x89: Push(false); break;             // NEWFALSE
                case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break;  // BININT
                case (byte)'K': Push((long)ReadByte()); break;                                        // BININT1
                case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break; // BININT2
                case 0x8a: Push(DecodeLong(Take(ReadByte()))); break;                                 // LONG1
                case 0x8b: Push(DecodeLong(Take(ReadLength(4, at)))); break;                          // LONG4
                case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break;          // BINFLOAT
                case (byte)'X': Push(DecodeText(Take(ReadLength(4, at)), at)); break;                 // BINUNICODE
                case 0x8c: Push(DecodeText(Take(ReadByte()), at)); break;                             // SHORT_BINUNICODE
                case 0x8d: Push(DecodeText(Take(ReadLength(8, at)), at)); break;                      // BINUNICODE8
                // Python 2 byte strings: torch.load decodes them as UTF-8 by default.
                case (byte)'U': Push(DecodeText(Take(ReadByte()), at)); break;                        // SHORT_BINSTRING
                case (byte)'T': Push(DecodeText(Take(ReadLength(4, at)), at)); break;                 // BINSTRING
                case (byte)'C': Push(Take(ReadByte()).ToArray()); break;                              // SHORT_BINBYTES
                case (byte)'B': Push(Take(ReadLength(4, at)).ToArray()); break;                       // BINBYTES
                case 0x8e: Push(Take(ReadLength(8, at)).ToArray()); break;                            // BINBYTES8
                case (byte)')': Push(new PickleTuple([])); break;                                     // EMPTY_TUPLE
                case (byte)'t': Push(new PickleTuple(PopMark(at).ToArray())); break;                  // TUPLE
                case 0x85: Push(new PickleTuple(PopMany(1, at))); break;                              // TUPLE1
                case 0x86: Push(new PickleTuple(PopMany(2, at))); break;                              // TUPLE2
                case 0x87: Push(new PickleTuple(PopMany(3, at))); break;                              // TUPLE3
                case (byte)']': Push(new List<object?>()); break;                                     // EMPTY_LIST
                case (byte)'}': Push(new PickleDict()); break;                                        // EMPTY_DICT
                case 0x8f: Push(new PickleSet()); break;                                              // EMPTY_SET
                case (byte)'a': Append(at); break;                                                    // APPEND
                case (byte)'e': Appends(at); break;                                                   // APPENDS
                case (byte)'s': SetItem(at); break;                                                   // SETITEM
                case (byte)'u': SetItems(at); break;                                                  // SETITEMS
                case 0x90: AddItems(at); break;                                                       // ADDITEMS
                case 0x91: FrozenSet(at); break;                                                      // FROZENSET
                case (byte)'c': Push(ResolveGlobal(ReadLine(at), ReadLine(at), at)); break;           // GLOBAL
                case 0x93: StackGlobal(at); break;                                                    // STACK_GLOBAL
                case (byte)'R': Reduce(at); break;                                                    // REDUCE
                case 0x81: NewObject(at); break;                                                      // NEWOBJ
                case (byte)'b': Build(at); break;                                                     // BUILD
                case (byte)'Q': PersistentLoad(at); break;                                            // BINPERSID
                case (byte)'h': Push(MemoGet(ReadByte(), at)); break;                                 // BINGET
                case (byte)'j': Push(MemoGet(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)), at)); break; // LONG_BINGET
                case (byte)'q': Memoize(ReadByte(), at); break;                                       // BINPUT
                case (byte)'r': Memoize(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)), at); break; // LONG_BINPUT
                case 0x94: Memoize(_memo.Count, at); break;                                           // MEMOIZE
                case (byte)'i' or (byte)'o' or 0x92:
                    throw new PyTorchCheckpointException(PyTorchCheckpointProblem.ForbiddenGlobal, _path,
                        $"the pickle uses opcode {Describe(opcode)} at byte {at}, which instantiates arbitrary classes; "
                        + "torch.load(weights_only=True) refuses it and so does this reader (nothing was executed).");
                default:
                    throw Malformed($"unsupported pickle opcode {Describe(opcode)}.", at);
            }
        }
    }

    private static string Describe(byte opcode) =>
        opcode is >= 0x20 and < 0x7f ? $"0x{opcode:x2} ('{(char)opcode}')" : $"0x{opcode:x2}";

    // ---- Containers ----------------------------------------------------------------------------------------

    private void Append(int at)
    {
        var item = Pop(at);
        AsList(Peek(at), "APPEND", at).Add(item);
    }

    private void Appends(int at)
    {
        var items = PopMark(at);
        AsList(Peek(at), "APPENDS", at).AddRange(items);
    }

    private void SetItem(int at)
    {
        var value = Pop(at);
        var key = Pop(at);
        AsDict(Peek(at), "SETITEM", at).Set(key, value);
    }

    private void SetItems(int at)
    {
        var items = PopMark(at);
        if (items.Count % 2 != 0)
            throw Malformed("SETITEMS has an odd number of keys and values.", at);
        var dict = AsDict(Peek(at), "SETITEMS", at);
        for (var i = 0; i < items.Count; i += 2)
            dict.Set(items[i], items[i + 1]);
    }

    private void AddItems(int at)
    {
        var items = PopMark(at);
        if (Peek(at) is not PickleSet set)
            throw Malformed($"ADDITEMS targets a {TypeName(Peek(at))}, not a set.", at);
        set.Items.AddRange(items);
    }

    private void FrozenSet(int at)
    {
        var set = new PickleSet();
        set.Items.AddRange(PopMark(at));
        Push(set);
    }

    private List<object?> AsList(object? target, string opcode, int at) =>
        target as List<object?> ?? throw Malformed($"{opcode} targets a {TypeName(target)}; only lists can be appended to.", at);

    private PickleDict AsDict(object? target, string opcode, int at) =>
        target as PickleDict ?? throw Malformed($"{opcode} targets a {TypeName(target)}; only dicts can be assigned to.", at);

    // ---- Globals and their application ---------------------------------------------------------------------

    private void StackGlobal(int at)
    {
        var name = Pop(at);
        var module = Pop(at);
        if (module is not string moduleName || name is not string globalName)
            throw Malformed("STACK_GLOBAL needs a module and a name string.", at);
        Push(ResolveGlobal(moduleName, globalName, at));
    }

    private PickleGlobal ResolveGlobal(string module, string name, int at) =>
        WeightsOnlyGlobals.Find(module, name)
        ?? throw new PyTorchCheckpointException(PyTorchCheckpointProblem.ForbiddenGlobal, _path,
            $"the pickle names the global '{Printable(WeightsOnlyGlobals.CanonicalModule(module))}.{Printable(name)}' (at byte {at}), which "
            + "torch.load(weights_only=True) does not allow: only tensors, storages, ordered dicts and plain containers "
            + "are read. Nothing was executed. If you trust the file, re-save its state dict with torch.save or as safetensors.");

    private void Reduce(int at)
    {
        var args = Pop(at);
        var callable = Pop(at);
        if (callable is not PickleGlobal global)
            throw Malformed($"REDUCE applies a {TypeName(callable)}, not an allowed global.", at);
        if (args is not PickleTuple tuple)
            throw Malformed($"REDUCE of '{global.FullName}' has {TypeName(args)} arguments, not a tuple.", at);
        Push(Apply(global, tuple, at));
    }

    private void NewObject(int at)
    {
        var args = Pop(at);
        var type = Pop(at);
        // torch lets NEWOBJ build nn.Parameter (from a tensor) and nothing else of its default allow-list we build here.
        if (type is PickleGlobal { Kind: AllowedGlobal.TensorClass } && args is PickleTuple { Count: >= 1 } tuple
            && tuple.Items[0] is TorchTensor tensor)
        {
            Push(tensor);
            return;
        }
        throw new PyTorchCheckpointException(PyTorchCheckpointProblem.Unsupported, _path,
            $"the pickle creates a new {(type is PickleGlobal g ? $"'{g.FullName}'" : TypeName(type))} object with NEWOBJ "
            + $"(at byte {at}); only nn.Parameter of a tensor is built that way.");
    }

    private void Build(int at)
    {
        var state = Pop(at);
        var instance = Peek(at);
        // OrderedDict state is its attributes (state_dict()'s _metadata: module versions); a tensor's is its Python
        // attributes or requires_grad. Neither changes the weights, so the state is dropped.
        if (instance is PickleDict or TorchTensor)
            return;
        throw new PyTorchCheckpointException(PyTorchCheckpointProblem.ForbiddenGlobal, _path,
            $"the pickle sets the state of a {TypeName(instance)} with BUILD (at byte {at}); only tensors and ordered dicts "
            + $"may be built (state was {TypeName(state)}). Nothing was executed.");
    }

    private object? Apply(PickleGlobal global, PickleTuple args, int at)
    {
        switch (global.Kind)
        {
            case AllowedGlobal.Dict:
                // OrderedDict() as protocol 2 reduces it, or OrderedDict([(key, value), ...]) as older pickles do.
                var dict = new PickleDict();
                if (args.Count == 1 && args.Items[0] is List<object?> pairs)
                    foreach (var pair in pairs)
                    {
                        if (pair is not PickleTuple { Count: 2 } keyValue)
                            throw Malformed($"'{global.FullName}' is given an item that is not a (key, value) pair.", at);
                        dict.Set(keyValue.Items[0], keyValue.Items[1]);
                    }
                else if (args.Count != 0)
                    throw Malformed($"'{global.FullName}' takes no arguments or a list of pairs.", at);
                return dict;
            case AllowedGlobal.Set:
                var set = new PickleSet();
                if (args.Count == 1 && args.Items[0] is List<object?> members)
                    set.Items.AddRange(members);
                return set;
            case AllowedGlobal.Bytes:
                // _codecs.encode(text, "latin1") is how protocol 2 writes bytes; bytearray(bytes) or bytearray().
                return args.Count switch
                {
                    0 => Array.Empty<byte>(),
                    _ when args.Items[0] is byte[] raw => raw,
                    _ when args.Items[0] is string text => Encoding.Latin1.GetBytes(text),
                    _ => throw Malformed($"'{global.FullName}' needs a string or bytes argument.", at),
                };
            case AllowedGlobal.Complex:
                return args;
            case AllowedGlobal.Size:
                return args.Count == 1 && args.Items[0] is PickleTuple dims ? dims
                    : throw Malformed("torch.Size needs one tuple argument.", at);
            case AllowedGlobal.NameValue:
                return args.Count >= 1 && args.Items[0] is string text2 ? text2
                    : throw Malformed($"'{global.FullName}' needs a string argument.", at);
            case AllowedGlobal.RebuildTensor:
            case AllowedGlobal.RebuildTensorV2:
            case AllowedGlobal.RebuildTensorV3:
                return RebuildTensor(global, args, at);
            case AllowedGlobal.RebuildParameter:
                return args.Count >= 1 && args.Items[0] is TorchTensor data ? data
                    : throw Malformed($"'{global.FullName}' needs a tensor as its first argument.", at);
            case AllowedGlobal.RebuildFromType:
                // (func, new_type, args, state): a tensor subclass rebuilt by func; only plain Tensor/Parameter types are read.
                if (args.Count == 4 && args.Items[0] is PickleGlobal func && args.Items[1] is PickleGlobal { Kind: AllowedGlobal.TensorClass }
                    && args.Items[2] is PickleTuple inner)
                    return Apply(func, inner, at);
                throw new PyTorchCheckpointException(PyTorchCheckpointProblem.Unsupported, _path,
                    $"the pickle rebuilds a tensor subclass with torch._tensor._rebuild_from_type_v2 (at byte {at}); only plain "
                    + "tensors and parameters are read.");
            default:
                throw new PyTorchCheckpointException(PyTorchCheckpointProblem.Unsupported, _path,
                    $"the pickle applies '{global.FullName}' (at byte {at}); it is safe, but this reader only reads dense "
                    + "tensors (not sparse, quantized, meta or subclass tensors).");
        }
    }

    private TorchTensor RebuildTensor(PickleGlobal global, PickleTuple args, int at)
    {
        var minimum = global.Kind switch { AllowedGlobal.RebuildTensor => 4, AllowedGlobal.RebuildTensorV2 => 6, _ => 7 };
        if (args.Count < minimum || args.Count > minimum + 1 || args.Items[0] is not TorchStorage storage)
            throw Malformed($"'{global.FullName}' needs a storage and {minimum - 1} more arguments, got {args.Count} arguments.", at);
        var offset = ToInt64(args.Items[1], "storage offset", at);
        var shape = ToDims(args.Items[2], "size", at);
        var strides = ToDims(args.Items[3], "stride", at);
        if (shape.Length != strides.Length)
            throw Malformed($"a tensor has {shape.Length} sizes but {strides.Length} strides.", at);
        var dtype = storage.DType;
        if (global.Kind == AllowedGlobal.RebuildTensorV3)
        {
            if (args.Items[6] is not PickleGlobal { Kind: AllowedGlobal.DType, DType: { } declared })
                throw Malformed("torch._utils._rebuild_tensor_v3 needs a dtype as its 7th argument.", at);
            dtype = declared;
        }
        return new TorchTensor(storage, dtype, offset, shape, strides);
    }

    private long[] ToDims(object? value, string what, int at)
    {
        var items = value switch
        {
            PickleTuple tuple => tuple.Items,
            List<object?> list => list.ToArray(),
            _ => throw Malformed($"a tensor's {what} is a {TypeName(value)}, not a tuple.", at),
        };
        if (items.Length > InputLimits.MaxTensorRank)
            throw new PyTorchCheckpointException(PyTorchCheckpointProblem.LimitExceeded, _path,
                $"a tensor has {items.Length} dimensions, more than the {InputLimits.MaxTensorRank} allowed (at byte {at}).");
        return items.Select(item => ToInt64(item, what, at)).ToArray();
    }

    private long ToInt64(object? value, string what, int at) =>
        value is long number ? number : throw Malformed($"a tensor's {what} holds a {TypeName(value)}, not an integer.", at);

    private void PersistentLoad(int at)
    {
        var id = Pop(at);
        if (id is not PickleTuple { Count: > 0 } tuple || tuple.Items[0] is not ("storage" or byte[]))
            throw Malformed($"a persistent id is {TypeName(id)}; only ('storage', …) ids are allowed.", at);
        if (tuple.Items[0] is byte[] tag && !tag.AsSpan().SequenceEqual("storage"u8))
            throw Malformed("a persistent id does not name a storage.", at);
        Push(_persistentLoad(tuple));
    }

    // ---- Stack, memo and raw reads -------------------------------------------------------------------------

    private void Push(object? value)
    {
        if (_stack.Count >= InputLimits.MaxPickleObjects)
            throw TooManyObjects("stack", _position);
        _stack.Add(value);
    }

    private void Memoize(long index, int at)
    {
        if (_memo.Count >= InputLimits.MaxPickleObjects && !_memo.ContainsKey(index))
            throw TooManyObjects("memo", at);
        _memo[index] = Peek(at);
    }

    private PyTorchCheckpointException TooManyObjects(string where, int at) =>
        new(PyTorchCheckpointProblem.LimitExceeded, _path,
            $"the pickle holds more than {InputLimits.MaxPickleObjects} objects in its {where} (at byte {at}).");

    private object? Peek(int at) =>
        _stack.Count > 0 ? _stack[^1] : throw Malformed("the pickle reads from an empty stack.", at);

    private object? Pop(int at)
    {
        var value = Peek(at);
        _stack.RemoveAt(_stack.Count - 1);
        return value;
    }

    private object?[] PopMany(int count, int at)
    {
        if (_stack.Count < count)
            throw Malformed("the pickle reads from an empty stack.", at);
        var items = _stack.GetRange(_stack.Count - count, count).ToArray();
        _stack.RemoveRange(_stack.Count - count, count);
        return items;
    }

    private List<object?> PopMark(int at)
    {
        if (_marks.Count == 0)
            throw Malformed("the pickle closes a MARK it never opened.", at);
        var items = _stack;
        _stack = _marks.Pop();
        return items;
    }

    private object? MemoGet(long index, int at) =>
        _memo.TryGetValue(index, out var value) ? value
            : throw Malformed($"the pickle reads memo entry {index}, which was never stored.", at);

    private byte ReadByte() => Take(1)[0];

    private ReadOnlySpan<byte> Take(long count)
    {
        if (count < 0 || count > _data.Length - _position)
            throw Malformed($"the pickle is truncated: {count} bytes needed, {_data.Length - _position} left.", _position);
        var span = _data.AsSpan(_position, (int)count);
        _position += (int)count;
        return span;
    }

    // A length field is checked against what is left before anything is allocated for it.
    private long ReadLength(int width, int at)
    {
        var length = width == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(Take(4)) : (long)BinaryPrimitives.ReadUInt64LittleEndian(Take(8));
        if (length < 0 || length > _data.Length - _position)
            throw Malformed($"a length of {(ulong)length} bytes runs past the end of the pickle.", at);
        return length;
    }

    private string ReadLine(int at)
    {
        var rest = _data.AsSpan(_position);
        var end = rest.IndexOf((byte)'\n');
        if (end < 0)
            throw Malformed("a GLOBAL name is not terminated (the pickle is truncated).", at);
        var text = DecodeText(rest[..end], at);
        _position += end + 1;
        return text;
    }

    private string DecodeText(ReadOnlySpan<byte> bytes, int at)
    {
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw Malformed("a string is not valid UTF-8.", at, e);
        }
    }

    // Little-endian two's complement, as pickle's LONG1/LONG4 store it.
    private static object DecodeLong(ReadOnlySpan<byte> bytes)
    {
        var value = new BigInteger(bytes, isUnsigned: false, isBigEndian: false);
        return value >= long.MinValue && value <= long.MaxValue ? (object)(long)value : value;
    }

    private static string TypeName(object? value) => value switch
    {
        null => "None",
        bool => "bool",
        long or BigInteger => "int",
        double => "float",
        string => "str",
        byte[] => "bytes",
        PickleTuple => "tuple",
        List<object?> => "list",
        PickleDict => "dict",
        PickleSet => "set",
        PickleGlobal g => $"'{g.FullName}'",
        TorchStorage => "storage",
        TorchTensor => "tensor",
        _ => value.GetType().Name,
    };

    private static string Printable(string text) => SafeTensorsFormatException.QuoteForMessage(text).Trim('\'');

    private PyTorchCheckpointException Malformed(string detail, int at, Exception? inner = null) =>
        new(PyTorchCheckpointProblem.InvalidPickle, _path, $"malformed pickle at byte {at}: {detail}", inner);
}
