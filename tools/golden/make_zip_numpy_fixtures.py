#!/usr/bin/env python3
"""Small ZIP and NumPy fixtures for tests/io/test_zip_archive.cpp and tests/io/test_numpy_file.cpp.

    /work/venv/bin/python tools/golden/make_zip_numpy_fixtures.py [--out tests/data/checkpoints]

Every value is a simple formula of the element index, so the C++ tests recompute what they expect
instead of reading it from another file. Deterministic: zipfile's default timestamp (1980-01-01) and
fixed contents; the deflated bytes depend only on the zlib build. Two archives (zip64.zip and
zip_aligned.zip) are written by the small writer below, because Python's zipfile writes neither a
ZIP64 end record for small archives nor PyTorch's 64-byte data alignment; both are checked by reading
them back with zipfile.
"""
import argparse
import io
import os
import struct
import zipfile
import zlib

import numpy as np


def ramp_bytes(n):
    # The contents of data/ramp.bin in zip_plain.zip: byte i = i*i mod 251.
    return bytes((i * i) % 251 for i in range(n))


HELLO = b"Hello from a stored entry.\n"


def raw_deflate(data):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def crafted_zip(entries, zip64=False, align=0):
    """A ZIP archive of (name, data, method) entries.

    zip64: every size and offset in the central directory is 0xFFFFFFFF with the real value in a ZIP64
    extra field, and the archive ends with a ZIP64 end record and locator before the classic one.
    align: pad each local header with an extra field (id "FB", as PyTorch's writer does) so that the
    entry's data starts at a multiple of `align`.
    """
    out = bytearray()
    central = bytearray()
    for name, data, method in entries:
        raw_name = name.encode()
        payload = data if method == 0 else raw_deflate(data)
        crc = zlib.crc32(data)
        offset = len(out)
        extra = struct.pack("<HHQQ", 1, 16, len(data), len(payload)) if zip64 else b""
        if align:
            start = offset + 30 + len(raw_name) + len(extra) + 4
            pad = -start % align
            extra += b"FB" + struct.pack("<H", pad) + b"Z" * pad
        version = 45 if zip64 else 20
        size32 = 0xFFFFFFFF if zip64 else len(data)
        csize32 = 0xFFFFFFFF if zip64 else len(payload)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, version, 0, method, 0, 0x21, crc, csize32, size32,
                           len(raw_name), len(extra))
        out += raw_name + extra
        if align:
            assert len(out) % align == 0
        out += payload
        cextra = struct.pack("<HHQQQ", 1, 24, len(data), len(payload), offset) if zip64 else b""
        offset32 = 0xFFFFFFFF if zip64 else offset
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, version, version, 0, method, 0, 0x21, crc,
                               csize32, size32, len(raw_name), len(cextra), 0, 0, 0, 0, offset32)
        central += raw_name + cextra
    cd_offset = len(out)
    out += central
    n = len(entries)
    if zip64:
        z64_offset = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(central), cd_offset)
        out += struct.pack("<IIQI", 0x07064B50, 0, z64_offset, 1)
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    else:
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(central), cd_offset, 0)
    return bytes(out)


def check_zip(blob, entries):
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        assert z.testzip() is None
        assert [i.filename for i in z.infolist()] == [e[0] for e in entries]
        for name, data, _ in entries:
            assert z.read(name) == data


def plain_zip():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr(zipfile.ZipInfo("hello.txt"), HELLO, compress_type=zipfile.ZIP_STORED)
        z.writestr(zipfile.ZipInfo("data/ramp.bin"), ramp_bytes(5000), compress_type=zipfile.ZIP_DEFLATED)
        z.writestr(zipfile.ZipInfo("empty"), b"", compress_type=zipfile.ZIP_STORED)
        z.comment = b"an archive comment, which the reader must skip when it looks for the end record"
    return buffer.getvalue()


def npy_bytes(array, version=None):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, version=version)
    return buffer.getvalue()


def grid(shape, dtype, scale=1.0, offset=0.0):
    # Element with row-major index i holds i*scale + offset.
    n = int(np.prod(shape))
    return (np.arange(n, dtype=np.float64) * scale + offset).reshape(shape).astype(dtype)


def all_types():
    # One (2, 3) array per element type numpy writes, plus the shapes that are easy to get wrong.
    i = np.arange(6).reshape(2, 3)
    return {
        "f2": (i * 0.5 - 1).astype("<f2"),
        "f4": (i * 0.25 - 0.5).astype("<f4"),
        "f8": (i / 3.0).astype("<f8"),
        "i1": (i - 3).astype("|i1"),
        "u1": (i + 250).astype("|u1"),
        "i2": (i * -1000).astype("<i2"),
        "i4": (i * 100000 - 7).astype("<i4"),
        "i8": (i * 2**40 - 1).astype("<i8"),
        "b1": (i % 3 == 0),
        "scalar": np.array(2.75, dtype="<f8"),
        "empty": np.zeros((0, 3), dtype="<f4"),
        "ema/out.bias": grid((4,), "<f4", 1.5),
    }


def fixtures():
    files = {}
    files["zip_plain.zip"] = plain_zip()
    z64 = [("a.txt", b"ZIP64 sizes live in extra fields.\n", 0), ("dir/b.bin", ramp_bytes(3000), 8)]
    files["zip64.zip"] = crafted_zip(z64, zip64=True)
    check_zip(files["zip64.zip"], z64)
    aligned = [("archive/data.pkl", b"\x80\x02}q\x00.", 0), ("archive/data/0", grid((6,), "<f4", 0.5).tobytes(), 0),
               ("archive/version", b"3\n", 0)]
    files["zip_aligned.zip"] = crafted_zip(aligned, align=64)
    check_zip(files["zip_aligned.zip"], aligned)

    files["numpy_f4.npy"] = npy_bytes(grid((3, 4), "<f4", 0.5, -2.0))
    files["numpy_scalar.npy"] = npy_bytes(np.array(2.75, dtype="<f8"))
    files["numpy_fortran.npy"] = npy_bytes(np.asfortranarray(grid((2, 3, 4), "<f8")))
    files["numpy_bigendian.npy"] = npy_bytes(grid((2, 3), ">f4", 0.25, 1.0))
    files["numpy_v2.npy"] = npy_bytes(grid((5,), "<i8", 3.0), version=(2, 0))

    buffer = io.BytesIO()
    np.savez(buffer, **all_types())
    files["numpy_types.npz"] = buffer.getvalue()
    buffer = io.BytesIO()
    np.savez_compressed(buffer, weight=grid((10, 100), "<f4", 0.001), **{"layers/0/bias": grid((10,), "<f2", -0.5)})
    files["numpy_compressed.npz"] = buffer.getvalue()
    return files


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(here, "..", "..", "tests", "data", "checkpoints"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, blob in sorted(fixtures().items()):
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(blob)
        print(f"{name:24s} {len(blob):6d} bytes")


if __name__ == "__main__":
    main()
