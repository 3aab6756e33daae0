#!/usr/bin/env python3
"""finufft's counterpart of the radial cases of `tweedie bench operators` (mri-radial-*): the same
320 x 320 image, the same 126 golden-angle spokes of 640 samples, the same tolerances, batches and
thread counts, type 2 (apply) and type 1 (adjoint) with a plan made once, printed as the same JSON lines.

    python3 tools/bench/finufft_nufft.py --threads 1,2 > finufft.jsonl
    build/cpu/tools/tweedie bench operators --filter radial --threads 1,2 > tweedie.jsonl
    python3 tools/bench/compare.py tweedie.jsonl finufft.jsonl

Prints finufft's version to stderr. Needs numpy and finufft. Not used by the build or the tests.
"""
import argparse
import json
import math
import sys

import numpy as np

from torch_common import measure


def radial(h, w, spokes, readout):
    """samplers/operators/nufft_operator.cpp's radial_trajectory with golden-angle order: (P, 2) (k_y, k_x)."""
    golden = math.pi * (math.sqrt(5.0) - 1) / 2
    theta = np.fmod(np.arange(spokes) * golden, 2 * math.pi)[:, None]
    rho = ((np.arange(readout) - readout / 2) / readout)[None, :]
    return np.stack([(rho * h * np.sin(theta)).ravel(), (rho * w * np.cos(theta)).ravel()], axis=1)


def main():
    import finufft

    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", default="1,2")
    args = parser.parse_args()
    h = w = 320
    k = radial(h, w, 126, 640)
    # tweedie's phase is -2 pi (k_y n_y / h + k_x n_x / w) with n centred: finufft's x = 2 pi k / N with
    # isign -1 and modes in CMCL order (-N/2 .. N/2 - 1), scaled by 1/sqrt(h w).
    y_pts, x_pts = 2 * math.pi * k[:, 0] / h, 2 * math.pi * k[:, 1] / w
    scale = 1 / math.sqrt(h * w)
    rng = np.random.default_rng(7)
    for threads in [int(t) for t in args.threads.split(",")]:
        for tol, batches in ((1e-6, (1, 8)), (1e-3, (1,))):
            for batch in batches:
                shape = (batch, h, w) if batch > 1 else (h, w)
                image = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
                data = (rng.standard_normal((batch, len(k)) if batch > 1 else len(k)) * (1 + 1j)).astype(np.complex64)
                forward = finufft.Plan(2, (h, w), n_trans=batch, eps=tol, isign=-1, nthreads=threads, dtype="complex64")
                forward.setpts(y_pts.astype(np.float32), x_pts.astype(np.float32))
                adjoint = finufft.Plan(1, (h, w), n_trans=batch, eps=tol, isign=1, nthreads=threads, dtype="complex64")
                adjoint.setpts(y_pts.astype(np.float32), x_pts.astype(np.float32))
                for which, run in (("apply", lambda: forward.execute(image) * scale), ("adjoint", lambda: adjoint.execute(data) * scale)):
                    median, least, runs = measure(run)
                    print(json.dumps({"bench": "operators", "impl": "finufft", "op": f"mri-radial-{tol:.0e}.{which}".replace("e-0", "e-"),
                                      "shape": [batch, 1, h, w], "device": "cpu", "threads": threads, "median_ms": median,
                                      "min_ms": least, "runs": runs}), flush=True)
    print(json.dumps({"finufft": finufft.__version__}), file=sys.stderr)


if __name__ == "__main__":
    main()
