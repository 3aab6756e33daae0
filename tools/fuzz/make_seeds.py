#!/usr/bin/env python3
"""Writes the seed inputs of each fuzz target into corpus/<target>/ (run by hand, standard library only).

Seeds are small valid files, plus the test suite's hostile fixtures (tests/data/checkpoints), so that
each fuzzer starts from inputs that reach deep into its parser. The fuzzers' own finds are merged in
by run.sh; this script only adds or refreshes the seed-* files.
"""
import io
import pathlib
import pickle
import shutil
import struct
import zipfile
from collections import OrderedDict

here = pathlib.Path(__file__).resolve().parent
data = here.parents[1] / "tests" / "data" / "checkpoints"
small = 64 * 1024


def put(target, name, content):
    folder = here / "corpus" / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"seed-{name}").write_bytes(content)


def copy_fixtures(target, patterns):
    for pattern in patterns:
        for f in sorted(data.glob(pattern)):
            if f.stat().st_size <= small:
                put(target, f.name, f.read_bytes())


def zip_bytes(entries, method=zipfile.ZIP_STORED):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as z:
        for name, content in entries:
            z.writestr(name, content)
    return out.getvalue()


def npy(descr, shape, payload, fortran=False):
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)
    header = header.ljust(64 * ((len(header) + 10 + 64) // 64) - 10 - 1) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload


# pickle: what torch.save pickles (data.pkl of the fixtures), legacy streams, and plain containers.
for f in sorted(data.glob("torch_*.pt")):
    raw = f.read_bytes()
    if raw[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(f) as z:
            for n in z.namelist():
                if n.endswith("data.pkl"):
                    put("pickle", f.stem + ".pkl", z.read(n))
    elif len(raw) <= small:
        put("pickle", f.name, raw)
for proto in (2, 3, 4, 5):
    value = OrderedDict([("a", [1, 2.5, None, True]), ("b", (b"xy", "z", -(2**70))), (3, {"k": ()})])
    put("pickle", f"containers-p{proto}.pkl", pickle.dumps(value, protocol=proto))

# zip: archives stored, deflated, ZIP64 and aligned, and the NumPy and PyTorch ones.
copy_fixtures("zip", ["zip*.zip", "numpy_*.npz", "torch_single_tensor.pt"])
put("zip", "deflated.zip", zip_bytes([("a.txt", b"hello " * 20), ("dir/b.bin", bytes(range(256)))], zipfile.ZIP_DEFLATED))

# numpy: .npy of several types and orders, .npz stored and deflated.
copy_fixtures("numpy", ["numpy_*"])
a = npy("<f4", "(2, 3)", struct.pack("<6f", *range(6)))
b = npy("<i8", "(3,)", struct.pack("<3q", 1, -2, 3))
put("numpy", "f4.npy", a)
put("numpy", "stored.npz", zip_bytes([("a.npy", a), ("b.npy", b)]))
put("numpy", "deflated.npz", zip_bytes([("a.npy", a), ("b.npy", b)], zipfile.ZIP_DEFLATED))

# safetensors: the small fixtures and a hand-written one with metadata.
copy_fixtures("safetensors", ["*.safetensors"])
header = b'{"__metadata__":{"format":"pt"},"w":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},' \
         b'"b":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}}'
put("safetensors", "metadata.safetensors", struct.pack("<Q", len(header)) + header + bytes(16))

# torch_checkpoint: every small PyTorch fixture, zip and legacy, valid and hostile.
copy_fixtures("torch_checkpoint", ["torch_*.pt", "mlp_*.pt"])

# spec: an operator line and an optional noise line, as `simulate` takes them.
specs = [
    "identity\ngaussian:sigma=0.1", "inpaint:p=0.25:seed=3\npoisson:scale=20:link=softplus",
    "inpaint:box=2,3,4,5", "inpaint:p=0.5:channels=each", "sr:2:avg\nbinomial:n=100:scale=0.5",
    "sr:factor=2", "blur:gauss:5:1.5:reflect\nnone", "blur:motion:7:0.5:seed=2", "mri:R=4:centre=2\ngaussian:sigma=0.01",
    "mri:R=2:pattern=poisson:seed=1", "mri:R=3:pattern=equispaced", "mri:R=2.5:pattern=gaussian:centre=3",
    "phase:pad=2", "sr:2|inpaint:p=0.5|blur:gauss:3:1", '{"kind": "sr", "args": [2], "method": "avg"}',
    '[{"kind": "inpaint", "p": 0.5}, {"kind": "phase"}]\n{"kind": "poisson", "scale": 4}', "matrix:a=A.h5",
    "identity\nbinomial:n=7", "identity\npoisson:3",
]
for i, s in enumerate(specs):
    put("spec", f"{i:02d}.txt", s.encode())
