#!/usr/bin/env python3
"""PyTorch counterpart of `tweedie bench unet`: the same ops on the same weights and thread counts,
printed as the same JSON lines (tools/bench/compare.py joins them).

    build/cpu/tools/tweedie bench unet --preset adm-small-64 --save-model small.h5 > tweedie.jsonl
    python3 tools/bench/torch_unet.py --model small.h5 >> torch.jsonl

The network is tools/golden/adm.py (guided-diffusion's UNetModel, re-implemented with the same
parameter names). Ops: forward (no autograd), linearize (torch.func.linearize), linearize+jvp
(torch.func.jvp), jvp (the linearized function applied to one more tangent), vjp (torch.func.vjp's
pullback applied to one cotangent). Needs torch, h5py. PyTorch before 2.0 (Debian 12's 1.13) has
functorch's jvp and vjp but no linearize: there the linearize and jvp ops are left out and
linearize+jvp, the cheapest JVP such a version offers, stands for both.
"""
import argparse
import json
import os

import torch

from torch_common import load_unet, measure

if hasattr(torch, "func"):
    func = torch.func
else:  # PyTorch 1.13
    import functorch as func


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--name", default=None, help="model name in the output (default: the file name)")
    parser.add_argument("--threads", default=str(torch.get_num_threads()))
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--size", type=int, default=0)
    parser.add_argument("--min-runs", type=int, default=3)
    parser.add_argument("--min-seconds", type=float, default=0.3)
    parser.add_argument("--filter", default="",
                        help="only ops whose name contains this text (as tweedie's); several texts separated by commas")
    args = parser.parse_args()
    model, cfg = load_unet(args.model)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    size = args.size or cfg["image_size"]
    spatial = (size,) * cfg["dims"]
    gen = torch.Generator().manual_seed(0)
    x = torch.randn((args.batch, cfg["in_channels"], *spatial), generator=gen)
    t = torch.full((args.batch,), 500.0)
    labels = torch.ones(args.batch, dtype=torch.long) if cfg.get("num_classes") else None

    def f(xx):
        return model(xx, t, labels) if labels is not None else model(xx, t)

    y = f(x)
    v = torch.randn(x.shape, generator=gen)
    u = torch.randn(y.shape, generator=gen)
    name = args.name or os.path.splitext(os.path.basename(args.model))[0]
    for threads in [int(n) for n in args.threads.split(",")]:
        torch.set_num_threads(threads)
        available = ["forward", "linearize", "linearize+jvp", "jvp", "vjp"]
        if not hasattr(func, "linearize"):
            available = ["forward", "linearize+jvp", "vjp"]
        wanted = [op for op in available if any(text in op for text in args.filter.split(","))]
        # Tracing torch.func.linearize takes seconds to minutes: only when the jvp op is timed.
        jvp_fn = func.linearize(f, x)[1] if "jvp" in wanted else None
        vjp_fn = func.vjp(f, x)[1] if "vjp" in wanted else None

        def forward():
            with torch.no_grad():
                f(x)

        ops = {
            "forward": forward,
            "linearize": lambda: func.linearize(f, x),
            "linearize+jvp": lambda: func.jvp(f, (x,), (v,)),
            "jvp": lambda: jvp_fn(v),
            "vjp": lambda: vjp_fn(u),
        }
        for op in wanted:
            fn = ops[op]
            med, best, runs = measure(fn, args.min_runs, args.min_seconds)
            print(json.dumps({"bench": "unet", "impl": "torch", "version": torch.__version__, "model": name, "op": op, "batch": args.batch,
                              "size": size, "tangents": 1, "device": "cpu", "threads": threads, "median_ms": med,
                              "min_ms": best, "runs": runs}), flush=True)


if __name__ == "__main__":
    main()
