#!/usr/bin/env python3
"""Writes the PyTorch checkpoint test files in Data/ -- torch.save-format files written WITHOUT torch.

There is no torch on the build machines, so this script reproduces what torch.save produces, byte for byte in
structure, with the standard library only:

* the object is pickled with protocol 2 (torch.save's default) by pickle.Pickler, whose persistent_id turns each
  storage into ('storage', torch.<Type>Storage, key, 'cpu', numel) exactly as torch/serialization.py `_save` does
  (pytorch/pytorch commit 000a1a54cb9cfd97fc822c5ef8fe52901c780daa);
* tensors reduce to torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
  OrderedDict()) as torch.Tensor.__reduce_ex__ does; a state dict is a collections.OrderedDict carrying a
  `_metadata` attribute (pickled as BUILD state), as nn.Module.state_dict() returns it;
* fake `torch` and `torch._utils` modules are registered in sys.modules so the pickler writes the very same
  GLOBAL opcodes (`torch FloatStorage`, `torch._utils _rebuild_tensor_v2`);
* the zip holds `<archive>/data.pkl`, `<archive>/byteorder` ("little"), `<archive>/data/<key>` (raw little-endian
  storage bytes) and `<archive>/version`, all stored uncompressed, each record's data aligned to 64 bytes with a
  'FB' extra field padded with 'Z' (caffe2/serialize/inline_container.cc, commit 02b040c187c2840f6eafc77d74f1e0c2fbc26b24).

Beside each valid file, <name>.expected.json lists every tensor (name, dtype, shape, values) as this script built
it, independently of the C# reader. The hostile files pickle real exploit payloads (os.system, builtins.eval, an
arbitrary class's __reduce__); the reader must refuse them without running anything.

Run from this folder: python3 make_torch_checkpoints.py
"""
import collections
import io
import json
import os
import pickle
import struct
import sys
import types
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "Data")


# ---- fake torch: just enough names for the pickler to write torch.save's GLOBALs --------------------------------
def _register_fake_torch():
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise RuntimeError("never called: this script only pickles")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    for name in ["FloatStorage", "HalfStorage", "BFloat16Storage", "DoubleStorage", "LongStorage", "IntStorage",
                 "ShortStorage", "CharStorage", "ByteStorage", "BoolStorage"]:
        cls = type(name, (), {"__module__": "torch"})
        setattr(torch, name, cls)
    sys.modules["torch"] = torch
    sys.modules["torch._utils"] = utils
    return torch, utils


torch, torch_utils = _register_fake_torch()

# storage class, struct format, element size, our dtype name
DTYPES = {
    "F32": (torch.FloatStorage, "<f", 4),
    "F16": (torch.HalfStorage, "<e", 2),
    "F64": (torch.DoubleStorage, "<d", 8),
    "I64": (torch.LongStorage, "<q", 8),
    "I32": (torch.IntStorage, "<i", 4),
    "U8": (torch.ByteStorage, "<B", 1),
    "BOOL": (torch.BoolStorage, "<?", 1),
    "BF16": (torch.BFloat16Storage, None, 2),
}


def bf16_bytes(values):
    # bfloat16 = the upper half of a float32; these test values are exactly representable, so truncation is exact
    return b"".join(struct.pack("<f", v)[2:] for v in values)


class Storage:
    def __init__(self, dtype, values):
        self.dtype = dtype
        self.values = list(values)

    def raw(self):
        cls, fmt, size = DTYPES[self.dtype]
        if self.dtype == "BF16":
            return bf16_bytes(self.values)
        return b"".join(struct.pack(fmt, v) for v in self.values)


class Tensor:
    """A strided view of a Storage; pickles like torch.Tensor (torch._utils._rebuild_tensor_v2)."""

    def __init__(self, storage, offset, shape, stride=None):
        self.storage, self.offset, self.shape = storage, offset, tuple(shape)
        if stride is None:
            stride, acc = [], 1
            for d in reversed(self.shape):
                stride.insert(0, acc)
                acc *= d
        self.stride = tuple(stride)

    def __reduce_ex__(self, protocol):
        return (torch_utils._rebuild_tensor_v2,
                (self.storage, self.offset, self.shape, self.stride, False, collections.OrderedDict()))

    def values(self):
        out = []

        def walk(dim, base):
            if dim == len(self.shape):
                out.append(self.storage.values[base])
                return
            for i in range(self.shape[dim]):
                walk(dim + 1, base + i * self.stride[dim])

        walk(0, self.offset)
        return out


def tensor(dtype, shape, values):
    return Tensor(Storage(dtype, values), 0, shape)


class StateDict(collections.OrderedDict):
    """nn.Module.state_dict()'s OrderedDict with _metadata; pickles as collections.OrderedDict plus BUILD state."""

    def __reduce__(self):
        state = {"_metadata": collections.OrderedDict([("", {"version": 1})])}
        return (collections.OrderedDict, (), state, None, iter(self.items()))


def pickle_with_storages(obj, protocol=2):
    keys = {}

    class Pickler(pickle.Pickler):
        def persistent_id(self, o):
            if isinstance(o, Storage):
                key = keys.setdefault(id(o), (str(len(keys)), o))[0]
                return ("storage", DTYPES[o.dtype][0], key, "cpu", len(o.values))
            return None

    buf = io.BytesIO()
    Pickler(buf, protocol=protocol).dump(obj)
    return buf.getvalue(), {k: s for (k, s) in keys.values()}


def write_torch_zip(path, pkl, storages, archive="archive"):
    with open(path, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as z:
        def record(name, data):
            full = f"{archive}/{name}"
            start = f.tell() + 30 + len(full.encode()) + 4
            pad = (-start) % 64
            info = zipfile.ZipInfo(full, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            info.extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
            z.writestr(info, data)

        record("data.pkl", pkl)
        record("byteorder", b"little")
        for key in sorted(storages):
            record(f"data/{key}", storages[key].raw())
        record("version", b"3\n")


def expected(obj_tensors):
    return [{"name": n, "dtype": t.storage.dtype, "shape": list(t.shape), "values": t.values()} for n, t in obj_tensors]


def save(name, obj, tensors, protocol=2):
    pkl, storages = pickle_with_storages(obj, protocol)
    write_torch_zip(os.path.join(OUT, name), pkl, storages)
    if tensors is not None:
        with open(os.path.join(OUT, name + ".expected.json"), "w") as f:
            json.dump(expected(tensors), f, indent=1)
            f.write("\n")


def main():
    os.makedirs(OUT, exist_ok=True)

    # A state dict as nn.Module.state_dict() + torch.save write it: several dtypes, a scalar, an empty tensor, and
    # two parameters that are views of one storage (offsets 0 and 6), as tied or sliced weights are saved.
    shared = Storage("F32", [0.5 * i for i in range(10)])
    sd = StateDict()
    sd["linear.weight"] = tensor("F32", (2, 3), [1.0, -2.0, 3.5, 0.25, -0.125, 8.0])
    sd["linear.bias"] = tensor("F16", (2,), [0.5, -1.5])
    sd["norm.weight"] = tensor("BF16", (3,), [1.0, 2.0, -0.5])
    sd["embed.positions"] = tensor("I64", (4,), [0, 1, 2, 1 << 40])
    sd["head.scale"] = tensor("F64", (), [2.718281828459045])
    sd["head.empty"] = tensor("F32", (0, 4), [])
    sd["tied.first"] = Tensor(shared, 0, (2, 3))
    sd["tied.second"] = Tensor(shared, 6, (4,))
    sd["mask"] = tensor("BOOL", (3,), [True, False, True])
    save("state_dict.pt", sd, list(sd.items()))
    # torch.save(..., pickle_protocol=4): FRAME, STACK_GLOBAL, MEMOIZE, SHORT_BINUNICODE instead of protocol 2's opcodes.
    save("state_dict_protocol4.pt", sd, list(sd.items()), protocol=4)

    # A training checkpoint: the state dict nested under "state_dict", beside an epoch and optimizer state.
    inner = StateDict()
    inner["encoder.weight"] = tensor("F32", (2, 2), [1.0, 2.0, 3.0, 4.0])
    inner["encoder.bias"] = tensor("F32", (2,), [-1.0, 1.0])
    ckpt = {"epoch": 7, "state_dict": inner, "optimizer": {"lr": 0.001, "state": {0: {"step": 3}}}}
    save("nested.pth", ckpt, list(inner.items()))

    # A transposed view saved as such (strides (1, 2)): not contiguous.
    t = Storage("F32", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    save("noncontiguous.pt", collections.OrderedDict([("w", Tensor(t, 0, (3, 2), (1, 3)))]), None)

    # ---- hostile pickles: each would run code under plain pickle.load ----
    marker = "accelaes-pickle-ran"

    class SystemCall:
        def __reduce__(self):
            return (os.system, (f"echo pwned > {marker}",))

    class EvalCall:
        def __reduce__(self):
            import builtins
            return (builtins.eval, (f"open('{marker}', 'w').write('pwned')",))

    class Exploit:
        pass

    Exploit.__module__ = "exploit"
    Exploit.__qualname__ = "Exploit"
    sys.modules["exploit"] = types.ModuleType("exploit")
    sys.modules["exploit"].Exploit = Exploit

    class ArbitraryClass:
        def __reduce__(self):
            return (Exploit, ())

    w = tensor("F32", (1,), [1.0])
    for name, payload, protocol in [("evil_os_system.pt", SystemCall(), 2), ("evil_eval.pt", EvalCall(), 2),
                                    ("evil_class.pt", ArbitraryClass(), 2),
                                    ("evil_stack_global.pt", SystemCall(), 4)]:
        pkl, storages = pickle_with_storages(collections.OrderedDict([("w", w), ("x", payload)]), protocol)
        write_torch_zip(os.path.join(OUT, name), pkl, storages)

    # The legacy (PyTorch < 1.6) format begins with a pickled magic number instead of a zip header.
    with open(os.path.join(OUT, "legacy.pt"), "wb") as f:
        pickle.dump(0x1950a86a20f9469cfc6c, f, protocol=2)
        pickle.dump(1001, f, protocol=2)


if __name__ == "__main__":
    main()
