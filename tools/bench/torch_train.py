#!/usr/bin/env python3
"""PyTorch counterpart of `tweedie bench train`: one training step of the same U-Net on the same batch
and thread counts, printed as the same JSON lines (tools/bench/compare.py joins them).

    build/cpu/tools/tweedie bench train --preset adm-small-64 --batch 16 --threads 2 \\
        --save-model small.h5 --save-batch batch.h5 > tweedie.jsonl
    python3 tools/bench/torch_train.py --model small.h5 --batch-file batch.h5 --threads 2 >> torch.jsonl

The step is tweedie's: eps-prediction DSM on guided-diffusion's 1000-step linear table (the mean of
(F - z)^2 over the mean channels), autograd backward, torch.optim.AdamW (lr 2e-4, betas 0.9, 0.999,
eps 1e-8, no weight decay, foreach), then the EMA update (decay 0.999). Ops: loss+gradient (zero_grad,
forward, backward), optimizer (AdamW step and EMA), step (both). Needs torch, h5py.
"""
import argparse
import json
import os

import h5py
import torch

from torch_common import load_unet, measure


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--batch-file", required=True, help="x0, noise and t written by tweedie bench train --save-batch")
    parser.add_argument("--name", default=None, help="model name in the output (default: the file name)")
    parser.add_argument("--threads", default=str(torch.get_num_threads()))
    parser.add_argument("--min-runs", type=int, default=3)
    parser.add_argument("--min-seconds", type=float, default=0.3)
    args = parser.parse_args()
    model, cfg = load_unet(args.model)
    model.train()
    with h5py.File(args.batch_file, "r") as f:
        x0 = torch.from_numpy(f["x0"][()])
        noise = torch.from_numpy(f["noise"][()])
        t = torch.from_numpy(f["t"][()]).float()
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    alpha_bar = torch.cumprod(1 - betas, 0)
    a = alpha_bar[t.long()].sqrt().float().view(-1, 1, 1, 1)
    s = (1 - alpha_bar[t.long()]).sqrt().float().view(-1, 1, 1, 1)
    channels = cfg["in_channels"]
    labels = (torch.arange(len(t)) % cfg["num_classes"]) if cfg.get("num_classes") else None
    name = args.name or os.path.splitext(os.path.basename(args.model))[0]
    size = x0.shape[-1]

    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, foreach=True)
    ema = [p.detach().clone() for p in model.parameters()]

    def gradient():
        optimizer.zero_grad(set_to_none=False)
        xt = a * x0 + s * noise
        out = model(xt, t, labels) if labels is not None else model(xt, t)
        loss = ((out[:, :channels] - noise) ** 2).mean()
        loss.backward()

    def update():
        optimizer.step()
        with torch.no_grad():
            torch._foreach_lerp_(ema, [p.detach() for p in model.parameters()], 1 - 0.999)

    def step():
        gradient()
        update()

    for threads in [int(n) for n in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for op, fn in (("loss+gradient", gradient), ("optimizer", update), ("step", step)):
            med, best, runs = measure(fn, args.min_runs, args.min_seconds)
            print(json.dumps({"bench": "train", "impl": "torch", "model": name, "op": op, "batch": len(t), "size": size,
                              "tangents": 1, "device": "cpu", "threads": threads, "median_ms": med, "min_ms": best,
                              "runs": runs}), flush=True)


if __name__ == "__main__":
    main()
