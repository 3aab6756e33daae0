#!/usr/bin/env python3
"""Small PyTorch checkpoints for tests/io/test_torch_checkpoint.cpp and tests/io/test_pickle.cpp: real
torch.save files of every storage type, views and nesting, in the zip and the legacy format, and
hostile or malformed files that a reader must refuse.

    /work/venv/bin/python tools/golden/make_torch_fixtures.py [--out tests/data/checkpoints]

Tensor values are formulas of the element index (see `typed_tensors` and `nested_checkpoint`), which the
C++ tests recompute. Deterministic: torch.save's zip files carry a random .data/serialization_id, which
is overwritten with zeros, and the legacy format names storages by memory address, which are replaced
by fixed keys of the same length (their sort order, which fixes the layout, is kept). Every file is read
back with torch.load to check that the rewriting kept it valid.

Writes (all prefixed torch_):
  torch_types.pt, torch_types_p5.pt, torch_types_legacy.pt
        one tensor per storage type, a transposed view, two views of one storage, an expanded view, an
        nn.Parameter, a 0-d and an empty tensor; pickle protocol 2, 5, and the pre-1.6 format
  torch_nested.pt, torch_nested_legacy.pt
        {"model": state_dict, "ema": state_dict, "step": 7, "optimizer": Adam state_dict, ...}; the zip's
        folder is "my_model-v2", not the file's name
  torch_os_system.pt, torch_os_system_legacy.pt, torch_eval.pt
        objects whose __reduce__ is os.system / builtins.eval with a `touch /tmp/tweedie_torch_pwned`
        payload: torch.load(weights_only=False) would run it
  torch_offset_past_end.pt, torch_stride_overflow.pt, torch_shape_overflow.pt, torch_short_storage.pt,
  torch_size_past_end_legacy.pt, torch_negative_stride_legacy.pt, torch_big_endian_legacy.pt,
  torch_big_endian.pt, torch_no_data_pkl.pt
        crafted with a hand-driven pickler: tensors addressing memory outside their storage, sizes
        that overflow, a storage shorter than declared, big-endian markers, a zip without data.pkl
  torch_storage_view_legacy.pt   a pre-0.4 storage view (view_metadata in the persistent id)
  torch_single_tensor.pt         torch.save(torch.arange(3.0) - 1): a tensor as the whole object
  torch_cycle_legacy.pt, torch_diamond_legacy.pt, torch_deep_legacy.pt
        a self-containing list, 2^40 paths to one tensor through shared lists, 150 nested lists
"""
import argparse
import collections
import copy
import io
import os
import pickle
import pickletools
import struct
import sys
import tempfile
import zipfile
import zlib

import torch

PWNED = "/tmp/tweedie_torch_pwned"
STORAGE_SIZES = {"FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "DoubleStorage": 8, "LongStorage": 8,
                 "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1}


# ---- the tensors and their formulas ----

def typed_tensors():
    i = torch.arange
    base = torch.arange(20.0) / 2  # shared by "rows" and "cols"
    grid = base.view(4, 5)
    return collections.OrderedDict([
        ("f32", i(12.0).reshape(3, 4) / 8),                                 # (3, 4): k / 8
        ("f16", ((i(6.0) - 2) / 4).reshape(2, 3).half()),                  # (2, 3): (k - 2) / 4
        ("bf16", ((i(5.0) - 1) * 0.5).bfloat16()),                         # (5,): (k - 1) / 2
        ("f64", i(4, dtype=torch.float64) / 3),                            # (4,): k / 3
        ("i64", (i(5) - 2) * 2**40 + 7 * i(5)),                            # (5,): (k - 2) 2^40 + 7 k
        ("i32", (3 - 100000 * i(4)).int()),                                # (4,): 3 - 100000 k
        ("i16", (5 - 1000 * i(3)).short()),                                # (3,): 5 - 1000 k
        ("i8", (i(4) - 2).char()),                                         # (4,): k - 2
        ("u8", (i(3) + 250).byte()),                                       # (3,): 250 + k
        ("bool", i(5) % 2 == 0),                                           # (5,): k even
        ("transposed", (i(6.0).reshape(2, 3) / 4).t()),                    # (3, 2): [r][c] = (3c + r) / 4
        ("rows", grid[1:3]),                                               # (2, 5): [r][c] = (5(r+1) + c) / 2
        ("cols", grid[:, 1::2]),                                           # (4, 2): [r][c] = (5r + 1 + 2c) / 2
        ("expanded", torch.tensor([1.5, -2.0]).expand(3, 2)),              # (3, 2): [r][c] = 1.5, -2
        ("param", torch.nn.Parameter(i(3.0) * 0.25 + 1)),                  # (3,): 1 + k / 4
        ("scalar", torch.tensor(2.5)),                                     # (): 2.5
        ("empty", torch.zeros(0, 3)),                                      # (0, 3)
    ])


def nested_checkpoint():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    with torch.no_grad():
        model[0].weight.copy_(torch.arange(6.0).reshape(2, 3) / 4)  # [r][c] = (3r + c) / 4
        model[0].bias.copy_(torch.tensor([0.5, -0.5]))
    ema = copy.deepcopy(model)
    with torch.no_grad():
        for p in ema.parameters():
            p.mul_(2)
    initial = copy.deepcopy(model.state_dict())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.eval()  # BatchNorm keeps its initial running statistics
    model(torch.ones(4, 3)).square().sum().backward()
    optimizer.step()
    optimizer.zero_grad()
    model.load_state_dict(initial)  # undo the step: "model" holds the formula values, the optimizer its state
    state = model.state_dict()
    return {
        "model": state,
        "ema": ema.state_dict(),
        "step": 7,
        "optimizer": optimizer.state_dict(),
        "buffers": [torch.full((2,), 3.0), torch.full((1,), -1.0)],  # a list: "buffers/0", "buffers/1"
        "by_index": {3: torch.tensor([4.0])},                         # an int key: "by_index/3"
        "tied": state["0.weight"],                                    # the same tensor object again
        "config": {"lr": 1e-4, "name": "toy", "betas": (0.9, 0.999), "flag": None},
    }


# ---- making torch.save output reproducible ----

def pin_serialization_id(blob):
    """Zeroes the random .data/serialization_id of a torch zip file and fixes its CRC-32 in the data
    descriptor and the central directory (torch writes data descriptors, so the local header has 0)."""
    blob = bytearray(blob)
    with zipfile.ZipFile(io.BytesIO(bytes(blob))) as z:
        info = next(i for i in z.infolist() if i.filename.endswith(".data/serialization_id"))
    name_len, extra_len = struct.unpack_from("<HH", blob, info.header_offset + 26)
    start = info.header_offset + 30 + name_len + extra_len
    new = b"0" * info.file_size
    blob[start:start + info.file_size] = new
    crc = zlib.crc32(new)
    assert info.flag_bits & 8, "expected a data descriptor"
    descriptor = start + info.file_size
    if blob[descriptor:descriptor + 4] == b"PK\x07\x08":
        descriptor += 4
    struct.pack_into("<I", blob, descriptor, crc)
    name = info.filename.encode()
    at = blob.find(b"PK\x01\x02")
    while at >= 0:
        n = struct.unpack_from("<H", blob, at + 28)[0]
        if bytes(blob[at + 46:at + 46 + n]) == name:
            struct.pack_into("<I", blob, at + 16, crc)
            break
        at = blob.find(b"PK\x01\x02", at + 1)
    assert at >= 0
    with zipfile.ZipFile(io.BytesIO(bytes(blob))) as z:
        assert z.testzip() is None
    return bytes(blob)


def pin_legacy_keys(blob):
    """Renames the storages of a legacy-format file, which torch names by memory address, to fixed
    decimal keys in order of first use, and writes the key list and the storages' bytes in that order."""
    f = io.BytesIO(blob)
    for _ in range(3):  # magic, protocol, sys_info
        pickle.load(f)
    object_start = f.tell()
    order, element_sizes = [], {}

    class Skimmer(pickle.Unpickler):
        # Walks the object for its storage ids without building tensors, and without calling anything
        # else either: the hostile fixtures pass through here too.
        def find_class(self, module, name):
            if (module, name) == ("collections", "OrderedDict"):
                return collections.OrderedDict
            if module == "torch" and name.endswith("Storage"):
                return name
            return lambda *args: None

        def persistent_load(self, pid):
            key = pid[2]
            if key not in element_sizes:
                order.append(key)
                element_sizes[key] = STORAGE_SIZES[pid[1]]

    Skimmer(f).load()
    object_end = f.tell()
    keys = pickle.load(f)
    assert sorted(keys) == sorted(order)
    blocks, pos = {}, f.tell()
    for key in keys:
        (count,) = struct.unpack_from("<q", blob, pos)
        blocks[key] = blob[pos:pos + 8 + count * element_sizes[key]]
        pos += len(blocks[key])
    assert pos == len(blob)

    length = len(order[0])
    rename = {key: str(10 ** (length - 1) + rank) for rank, key in enumerate(order)}
    assert all(len(key) == length for key in order) and not set(rename.values()) & set(order)
    obj = blob[object_start:object_end]
    for old, new in rename.items():
        assert obj.count(binunicode(old)) >= 1
        obj = obj.replace(binunicode(old), binunicode(new))
    new_keys = [rename[key] for key in order]
    return (blob[:object_start] + obj + pickle.dumps(new_keys, protocol=2) +
            b"".join(blocks[key] for key in order))


def binunicode(text):
    return b"X" + struct.pack("<I", len(text)) + text.encode()


def saved(obj, legacy=False, protocol=2, stem=None):
    """torch.save's bytes. Saved to a buffer, the zip's top folder is "archive"; saved to a file, it is
    named after the file's stem (`stem`)."""
    if stem:
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, stem + ".pt")
            torch.save(obj, path, pickle_protocol=protocol, _use_new_zipfile_serialization=not legacy)
            with open(path, "rb") as f:
                blob = f.read()
    else:
        buffer = io.BytesIO()
        torch.save(obj, buffer, pickle_protocol=protocol, _use_new_zipfile_serialization=not legacy)
        blob = buffer.getvalue()
    return pin_legacy_keys(blob) if legacy else pin_serialization_id(blob)


def check_loads(blob, reference):
    loaded = torch.load(io.BytesIO(blob), weights_only=False)

    def same(a, b):
        if isinstance(a, torch.Tensor):
            return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
        if isinstance(a, dict):
            return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        if isinstance(a, (list, tuple)):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
        return a == b

    assert same(loaded, reference)


# ---- hostile objects: torch.load(weights_only=False) would run these ----

class RunsShell:
    def __reduce__(self):
        return (os.system, (f"touch {PWNED}",))


class Evaluates:
    def __reduce__(self):
        return (eval, (f"__import__('os').system('touch {PWNED}')",))


# ---- hand-driven pickles: persistent ids and _rebuild_tensor_v2 calls with chosen numbers ----

class FakeStorage:
    def __init__(self, storage_type, key, numel, view=None):
        self.storage_type, self.key, self.numel, self.view = storage_type, key, numel, view


class FakeTensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


def crafted_pickle(obj, legacy):
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=2)

    def persistent_id(o):
        if isinstance(o, FakeStorage):
            pid = ("storage", o.storage_type, o.key, "cpu", o.numel)
            return pid + (o.view,) if legacy else pid
        return None

    pickler.persistent_id = persistent_id
    pickler.dump(obj)
    return buffer.getvalue()


def crafted_zip(obj, storages, byteorder=b"little", with_pickle=True):
    """A zip-format checkpoint: `storages` maps key -> raw bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
        if with_pickle:
            z.writestr(zipfile.ZipInfo("archive/data.pkl"), crafted_pickle(obj, legacy=False))
        z.writestr(zipfile.ZipInfo("archive/byteorder"), byteorder)
        for key, data in storages.items():
            z.writestr(zipfile.ZipInfo(f"archive/data/{key}"), data)
        z.writestr(zipfile.ZipInfo("archive/version"), b"3\n")
    return buffer.getvalue()


def crafted_legacy(obj, storages, little_endian=True):
    """A legacy-format checkpoint: `storages` maps key -> (element count, raw bytes)."""
    def dump(value):
        return pickle.dumps(value, protocol=2)

    sys_info = {"protocol_version": 1001, "little_endian": little_endian,
                "type_sizes": {"short": 2, "int": 4, "long": 4}}
    out = dump(0x1950A86A20F9469CFC6C) + dump(1001) + dump(sys_info) + crafted_pickle(obj, legacy=True)
    out += dump(sorted(storages))
    for key in sorted(storages):
        numel, data = storages[key]
        out += struct.pack("<q", numel) + data
    return out


def floats(n):
    return struct.pack(f"<{n}f", *range(n))


def fixtures():
    files = {}
    types = typed_tensors()
    files["torch_types.pt"] = saved(types)
    files["torch_types_p5.pt"] = saved(types, protocol=5)
    files["torch_types_legacy.pt"] = saved(types, legacy=True)
    for name in ("torch_types.pt", "torch_types_p5.pt", "torch_types_legacy.pt"):
        check_loads(files[name], types)
    nested = nested_checkpoint()
    files["torch_nested.pt"] = saved(nested, stem="my_model-v2")
    files["torch_nested_legacy.pt"] = saved(nested, legacy=True)
    check_loads(files["torch_nested.pt"], nested)
    check_loads(files["torch_nested_legacy.pt"], nested)

    files["torch_os_system.pt"] = saved({"weight": torch.ones(2), "payload": RunsShell()})
    files["torch_os_system_legacy.pt"] = saved({"weight": torch.ones(2), "payload": RunsShell()}, legacy=True)
    files["torch_eval.pt"] = saved({"payload": Evaluates(), "weight": torch.ones(2)}, protocol=4)

    f32 = torch.FloatStorage
    four = FakeStorage(f32, "0", 4)
    files["torch_offset_past_end.pt"] = crafted_zip({"bad.weight": FakeTensor(four, 6, [2], [1])}, {"0": floats(4)})
    files["torch_stride_overflow.pt"] = crafted_zip({"bad.weight": FakeTensor(four, 0, [3, 2], [2**62, 1])},
                                                    {"0": floats(4)})
    files["torch_shape_overflow.pt"] = crafted_zip({"bad.weight": FakeTensor(four, 0, [2**40, 2**40], [0, 0])},
                                                   {"0": floats(4)})
    files["torch_short_storage.pt"] = crafted_zip({"bad.weight": FakeTensor(FakeStorage(f32, "0", 10), 0, [10], [1])},
                                                  {"0": floats(4)})
    files["torch_big_endian.pt"] = crafted_zip({"w": FakeTensor(four, 0, [4], [1])}, {"0": floats(4)}, byteorder=b"big")
    files["torch_no_data_pkl.pt"] = crafted_zip(None, {"0": floats(4)}, with_pickle=False)
    legacy_four = FakeStorage(f32, "1", 4)
    files["torch_size_past_end_legacy.pt"] = crafted_legacy({"bad.weight": FakeTensor(legacy_four, 1, [2, 2], [2, 1])},
                                                            {"1": (4, floats(4))})
    files["torch_negative_stride_legacy.pt"] = crafted_legacy({"bad.weight": FakeTensor(legacy_four, 3, [2], [-1])},
                                                              {"1": (4, floats(4))})
    files["torch_big_endian_legacy.pt"] = crafted_legacy({"w": FakeTensor(legacy_four, 0, [4], [1])},
                                                         {"1": (4, floats(4))}, little_endian=False)
    # Pre-0.4 storage views: elements [2, 5) of a 6-element storage; the tensor starts 1 into the view.
    view = FakeStorage(f32, "7", 6, view=("8", 2, 3))
    files["torch_storage_view_legacy.pt"] = crafted_legacy({"w": FakeTensor(view, 1, [2], [1])}, {"7": (6, floats(6))})
    files["torch_single_tensor.pt"] = saved(torch.arange(3.0) - 1)
    # Objects that only a walk with limits survives: a list holding itself, 2^40 paths to one tensor
    # through shared lists, and a tensor nested 150 lists deep.
    loop = []
    loop.append(loop)
    files["torch_cycle_legacy.pt"] = crafted_legacy({"loop": loop}, {})
    diamond = [FakeTensor(legacy_four, 0, [4], [1])]
    for _ in range(40):
        diamond = [diamond, diamond]
    files["torch_diamond_legacy.pt"] = crafted_legacy({"d": diamond}, {"1": (4, floats(4))})
    deep = FakeTensor(legacy_four, 0, [4], [1])
    for _ in range(150):
        deep = [deep]
    files["torch_deep_legacy.pt"] = crafted_legacy({"deep": deep}, {"1": (4, floats(4))})
    return files


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(here, "..", "..", "tests", "data", "checkpoints"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    total = 0
    for name, blob in sorted(fixtures().items()):
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(blob)
        total += len(blob)
        print(f"{len(blob):>7}  {name}")
    print(f"{total:>7}  in all", file=sys.stderr)


if __name__ == "__main__":
    main()
