"""What the PyTorch benchmark scripts share: timing an op as `tweedie bench` does (bench/measure.h),
and loading a tweedie model file into tools/golden/adm.py's UNetModel."""
import json
import os
import statistics
import sys
import time


def measure(fn, min_runs=5, min_seconds=0.3, sync=lambda: None):
    """One untimed warm-up, then runs until both min_runs and min_seconds are reached; (median ms,
    min ms, runs)."""
    fn()
    sync()
    times = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times), min(times), len(times)


def load_unet(path):
    """The adm-unet of a tweedie model file, with its weights, and its config (needs h5py)."""
    import h5py
    import torch

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden"))
    from adm import UNetModel

    with h5py.File(path, "r") as f:
        if f.attrs["architecture"] != "adm-unet":
            sys.exit(f"{path}: only adm-unet models are supported here")
        config = json.loads(f.attrs["config"])
        model = UNetModel(**config)
        state = {k: torch.from_numpy(f["parameters"][k][()].astype("float32")) for k in f["parameters"]}
    model.load_state_dict(state)
    return model, config
