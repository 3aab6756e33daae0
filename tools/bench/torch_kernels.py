#!/usr/bin/env python3
"""PyTorch counterparts of `tweedie bench kernels`: the same ops on the same shapes and thread counts,
printed as the same JSON lines, so tools/bench/compare.py can set them side by side.

    python3 tools/bench/torch_kernels.py --threads 1,2 > torch.jsonl
    build/cpu/tools/tweedie bench kernels --threads 1,2 > tweedie.jsonl
    python3 tools/bench/compare.py tweedie.jsonl torch.jsonl

Needs torch (CPU or CUDA). Not used by the build or the tests.
"""
import argparse
import json
import math

import torch
import torch.nn.functional as F

from torch_common import measure


def cases(dev):
    n16 = 1 << 24
    randn = lambda *s: torch.randn(*s, device=dev)

    def gemm(m, n, k):
        a, b = randn(m, k), randn(k, n)
        return "gemm", [m, n, k], 2.0 * m * n * k, 0, lambda: torch.matmul(a, b)

    def bgemm(batch, m, n, k):
        a, b = randn(batch, m, k), randn(batch, k, n)
        return "gemm_batched", [batch, m, n, k], 2.0 * batch * m * n * k, 0, lambda: torch.bmm(a, b)

    def fft(batch, h, w):
        x = torch.randn(batch, h, w, dtype=torch.complex64, device=dev)
        n = h * w
        return "fft2", [batch, h, w], 5.0 * batch * n * math.log2(n), 0, lambda: torch.fft.fft2(x, norm="ortho")

    yield gemm(128, 128, 128)
    yield gemm(256, 256, 256)
    yield gemm(512, 512, 512)
    yield gemm(1024, 1024, 1024)
    yield gemm(256, 4096, 2304)
    yield bgemm(64, 64, 64, 64)
    yield bgemm(32, 256, 256, 64)
    yield fft(8, 256, 256)
    yield fft(1, 320, 320)
    yield fft(1, 1024, 1024)
    x = randn(n16)
    y = randn(n16)
    yield "silu", [n16], 0, 8.0 * n16, lambda: F.silu(x)
    yield "axpby", [n16], 0, 12.0 * n16, lambda: y.mul_(0.5).add_(x, alpha=0.5)
    yield "dot", [n16], 0, 8.0 * n16, lambda: torch.dot(x, y).item()
    g = randn(8, 256, 64, 64)
    yield "group_moments", [8, 256, 64, 64], 0, 4.0 * g.numel(), lambda: torch.var_mean(g.view(8 * 32, -1), dim=1, correction=0)
    s = randn(4096, 4096)
    yield "softmax_rows", [4096, 4096], 0, 8.0 * s.numel(), lambda: torch.softmax(s, dim=-1)
    u = randn(8, 128, 64, 64)
    yield "upsample2x", [8, 128, 64, 64], 0, 4.0 * u.numel() * 5, lambda: F.interpolate(u, scale_factor=2, mode="nearest")
    p = randn(8, 128, 128, 128)
    yield "avgpool2x", [8, 128, 128, 128], 0, 4.0 * p.numel() * 1.25, lambda: F.avg_pool2d(p, 2)
    a, b = randn(8, 128, 64, 64), randn(8, 128, 64, 64)
    yield "concat_channels", [8, 256, 64, 64], 0, 8.0 * 2 * a.numel(), lambda: torch.cat([a, b], dim=1)
    z = torch.empty(n16, device=dev)
    yield "fill_normal", [n16], 0, 4.0 * n16, lambda: z.normal_()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", default=str(torch.get_num_threads()))
    parser.add_argument("--filter", default="")
    args = parser.parse_args()
    dev = torch.device(args.device.replace("cuda:", "cuda:") if args.device != "cuda" else "cuda:0")
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for op, shape, flops, nbytes, fn in cases(dev):
            if args.filter not in op:
                continue
            med, best, runs = measure(fn, sync=sync)
            line = {"bench": "kernels", "impl": "torch", "op": op, "shape": shape, "device": str(dev),
                    "threads": threads, "median_ms": med, "min_ms": best, "runs": runs}
            if flops:
                line["gflops"] = flops / (med * 1e6)
            if nbytes:
                line["gbps"] = nbytes / (med * 1e6)
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
