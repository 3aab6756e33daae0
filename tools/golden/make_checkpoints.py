#!/usr/bin/env python3
"""Checkpoints in the formats `tweedie convert` reads, written by the real libraries (torch.save,
safetensors, numpy) from the weights of the golden model files, so that a converted file evaluated by
`tweedie eval` can be compared with the PyTorch outputs stored in the golden file.

    /work/venv/bin/python tools/golden/make_checkpoints.py

Writes tests/data/checkpoints/:
  adm_legacy.pt            state_dict of adm_legacy_scaleshift_updown, float16, zip format
  adm_legacy.safetensors   the same, float16
  adm_legacy.npz           the same, float16, deflated (np.savez_compressed)
  mlp_nested.pt            {"model": weights / 2, "ema": weights, "step": 1000, "args": {...}}, float32
  mlp_legacy.pt            the mlp_small state_dict in the pre-1.6 format (no zip)
  mlp_bf16.safetensors     mlp_small rounded to bfloat16; mlp_bf16_expected.h5 holds the rounded
                           values as float32 (what a correct reader must produce)
  mlp_nan.safetensors      mlp_small float16 with one NaN in output.weight
  tensors.safetensors      small tensors of every float and integer type with formula values
Needs torch, numpy, h5py, safetensors.
"""
import collections
import os

import h5py
import numpy as np
import torch
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import save_file as save_torch

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "tests", "data")
OUT = os.path.join(DATA, "checkpoints")


def state_dict(golden):
    with h5py.File(os.path.join(DATA, golden), "r") as f:
        group = f["parameters"]
        return collections.OrderedDict((k, torch.from_numpy(group[k][()])) for k in sorted(group))


def main():
    os.makedirs(OUT, exist_ok=True)
    adm = state_dict("adm_legacy_scaleshift_updown.h5")  # stored float16 in the golden file
    assert all(t.dtype == torch.float16 for t in adm.values())
    torch.save(adm, os.path.join(OUT, "adm_legacy.pt"))
    save_torch(dict(adm), os.path.join(OUT, "adm_legacy.safetensors"))
    np.savez_compressed(os.path.join(OUT, "adm_legacy.npz"), **{k: v.numpy() for k, v in adm.items()})

    mlp = collections.OrderedDict((k, v.float()) for k, v in state_dict("mlp_small.h5").items())
    nested = {"model": collections.OrderedDict((k, v / 2) for k, v in mlp.items()), "ema": mlp, "step": 1000,
              "args": {"lr": 1e-4, "batch_size": 64, "name": "toy"}}
    torch.save(nested, os.path.join(OUT, "mlp_nested.pt"))
    torch.save(mlp, os.path.join(OUT, "mlp_legacy.pt"), _use_new_zipfile_serialization=False)

    bf16 = collections.OrderedDict((k, v.to(torch.bfloat16)) for k, v in mlp.items())
    save_torch(dict(bf16), os.path.join(OUT, "mlp_bf16.safetensors"))
    with h5py.File(os.path.join(OUT, "mlp_bf16_expected.h5"), "w") as f:
        for k, v in bf16.items():
            f[k] = v.float().numpy()

    nan = collections.OrderedDict((k, v.half().clone()) for k, v in mlp.items())
    nan["output.weight"][0, 3] = float("nan")
    save_torch(dict(nan), os.path.join(OUT, "mlp_nan.safetensors"))

    # Values the C++ test recomputes: element i of every tensor is (i - 3) / 4 (exact in every type
    # that can hold it), integers are i - 3, booleans i % 2.
    def ramp(shape, dtype):
        n = int(np.prod(shape))
        i = np.arange(n).reshape(shape)
        if dtype == np.bool_:
            return (i % 2).astype(np.bool_)
        if np.issubdtype(dtype, np.integer):
            return (i - 3).astype(dtype)
        return ((i - 3) / 4).astype(dtype)

    tensors = {"f16": ramp((2, 3), np.float16), "f32": ramp((4, 1, 2), np.float32), "f64": ramp((5,), np.float64),
               "i64": ramp((3,), np.int64), "i32": ramp((2, 2), np.int32), "u8": ramp((4,), np.uint8) + 3,
               "bool": ramp((3,), np.bool_), "scalar": np.array(2.5, dtype=np.float32),
               "empty": np.zeros((0, 3), dtype=np.float32)}
    save_numpy(tensors, os.path.join(OUT, "tensors.safetensors"), metadata={"format": "np"})
    bf = torch.tensor([-0.75, 0.5, 1.25], dtype=torch.bfloat16)
    save_torch({"bf16": bf}, os.path.join(OUT, "bf16.safetensors"))

    for name in sorted(os.listdir(OUT)):
        print(f"{os.path.getsize(os.path.join(OUT, name)):>9}  {name}")


if __name__ == "__main__":
    main()
