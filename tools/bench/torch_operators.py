#!/usr/bin/env python3
"""PyTorch counterparts of `tweedie bench operators`: the same forward operators, their adjoints (or
VJPs), on the same shapes and thread counts, printed as the same JSON lines.

    python3 tools/bench/torch_operators.py --threads 1,2 > torch.jsonl
    build/cpu/tools/tweedie bench operators --threads 1,2 > tweedie.jsonl
    python3 tools/bench/compare.py tweedie.jsonl torch.jsonl

Adjoints that PyTorch has no direct form for (resampling, reflect-padded blur, phase retrieval) are
timed as autograd backward passes through a graph recorded once, which is how PyTorch code gets them.
The bicubic case uses interpolate(antialias=True), PyTorch's nearest equivalent of the DPS resizer.
Needs torch. Not used by the build or the tests.
"""
import argparse
import json

import torch
import torch.nn.functional as F

from torch_common import measure


def centred_fft(x):
    return torch.fft.fftshift(torch.fft.fft2(torch.fft.ifftshift(x, dim=(-2, -1)), norm="ortho"), dim=(-2, -1))


def centred_ifft(y):
    return torch.fft.fftshift(torch.fft.ifft2(torch.fft.ifftshift(y, dim=(-2, -1)), norm="ortho"), dim=(-2, -1))


def column_mask(h, w, dev):
    g = torch.Generator().manual_seed(1)
    cols = torch.rand(w, generator=g) < (w / 4 - 26) / (w - 26)
    cols[w // 2 - 13: w // 2 + 13] = True
    return cols.float().expand(h, w).to(dev)


def by_autograd(f, x, y):
    """The VJP x -> J^T y through a graph recorded once."""
    x = x.clone().requires_grad_(True)
    out = f(x)
    return lambda: f(x), lambda: torch.autograd.grad(out, x, y, retain_graph=True)


def gaussian(size, sigma, dev):
    r = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma * sigma))
    return (g / g.sum()).to(dev)


def cases(dev):
    knee = lambda b: torch.randn(b, 1, 320, 320, dtype=torch.complex64, device=dev)
    mask = column_mask(320, 320, dev)

    def mri(b):
        x, y = knee(b), knee(b)
        return [1, 1, 320, 320], lambda: centred_fft(x) * mask, lambda: centred_ifft(y * mask)

    def mri_coils():
        maps = torch.full((15, 320, 320), complex(0.18257419, 0.18257419), dtype=torch.complex64, device=dev)
        x, y = knee(1), torch.randn(1, 15, 320, 320, dtype=torch.complex64, device=dev)
        return [1, 1, 320, 320], lambda: centred_fft(maps * x) * mask, lambda: (maps.conj() * centred_ifft(y * mask)).sum(1, keepdim=True)

    face = lambda: torch.randn(8, 3, 256, 256, device=dev)

    def inpaint():
        m = (torch.rand(1, 256, 256, device=dev) < 0.3).float()
        x, y = face(), face()
        return [8, 3, 256, 256], lambda: x * m, lambda: y * m

    def resample(f, b=8):
        x = face()[:b]
        y = torch.randn_like(f(x))
        apply, adjoint = by_autograd(f, x, y)
        return [b, 3, 256, 256], apply, adjoint

    def blur_circular():
        k = torch.zeros(256, 256, device=dev)
        k[:61, :61] = gaussian(61, 3, dev)
        k = torch.roll(k, (-30, -30), (0, 1))
        kf = torch.fft.fft2(k)
        x, y = face(), face()
        return ([8, 3, 256, 256], lambda: torch.fft.ifft2(torch.fft.fft2(x) * kf).real,
                lambda: torch.fft.ifft2(torch.fft.fft2(y) * kf.conj()).real)

    weight = gaussian(61, 3, dev).expand(3, 1, 61, 61).contiguous()
    reflect = lambda x: F.conv2d(F.pad(x, (30, 30, 30, 30), mode="reflect"), weight, groups=3)

    def phase():
        x = torch.randn(8, 1, 256, 256, device=dev)
        f = lambda v: torch.fft.fft2(F.pad(v, (64, 64, 64, 64)), norm="ortho").abs()
        apply, adjoint = by_autograd(f, x, torch.randn(8, 1, 384, 384, device=dev))
        return [8, 1, 256, 256], apply, adjoint

    return [
        ("mri", 1, lambda: mri(1)),
        ("mri", 8, lambda: mri(8)),
        ("mri-coils", 1, mri_coils),
        ("inpaint", 8, inpaint),
        ("sr4-bicubic", 8, lambda: resample(lambda v: F.interpolate(v, scale_factor=0.25, mode="bicubic", antialias=True))),
        ("sr4-avg", 8, lambda: resample(lambda v: F.avg_pool2d(v, 4))),
        ("blur-circular", 8, blur_circular),
        ("blur-reflect", 1, lambda: resample(reflect, 1)),
        ("phase", 8, phase),
    ]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", default="1,%d" % torch.get_num_threads())
    p.add_argument("--filter", default="")
    a = p.parse_args()
    dev = torch.device(a.device)
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)
    for threads in sorted({int(t) for t in a.threads.split(",")}):
        torch.set_num_threads(threads)
        for name, batch, make in cases(dev):
            if a.filter not in name:
                continue
            shape, apply, adjoint = make()
            shape = [batch] + shape[1:]
            for which, fn in (("apply", apply), ("adjoint", adjoint)):
                with torch.no_grad() if which == "apply" else torch.enable_grad():
                    med, lo, runs = measure(fn, sync=sync)
                print(json.dumps({"bench": "operators", "impl": "torch", "op": f"{name}.{which}",
                                  "shape": shape, "device": a.device, "threads": threads,
                                  "median_ms": med, "min_ms": lo, "runs": runs}), flush=True)


if __name__ == "__main__":
    main()
