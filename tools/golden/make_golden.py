#!/usr/bin/env python3
"""Writes tweedie's golden model files: tests/data/<name>.h5, one per configuration below.

Each file is a complete tweedie model file (root attributes format, format_version, architecture,
config; group /parameters, stored as float16) plus a /golden group with one forward pass, one JVP and one VJP with
respect to x, and a few parameter gradients, all computed by PyTorch in float32 from the
independent re-implementations in adm.py and mlp.py.

Before writing, every configuration is checked (see the tolerances below):
  * the JVP (float64 and the stored float32 one) against a five-point central finite difference of
    a float64 copy of the model;
  * the dot-product identity <u, J v> = <J^T u, v> between the stored float32 JVP and VJP;
  * the float32 output, VJP and parameter gradients against the float64 copy.

Run:  /work/venv/bin/python tools/golden/make_golden.py [--out DIR]
Deterministic: fixed seeds, one CPU thread; two runs give byte-identical files.
"""

import argparse
import copy
import json
import os
import sys
import time
import warnings
import zlib

import h5py
import numpy as np
import torch

# torch's own import-time deprecation notices are noise here
warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.")

sys.dont_write_bytecode = True  # keep tools/golden free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from adm import UNetModel  # noqa: E402
from mlp import MLPDenoiser  # noqa: E402

ADM_KEYS = ["dims", "image_size", "in_channels", "model_channels", "out_channels", "num_res_blocks",
            "attention_resolutions", "channel_mult", "num_classes", "num_heads", "num_head_channels",
            "num_heads_upsample", "use_scale_shift_norm", "resblock_updown", "use_new_attention_order",
            "conv_resample", "dropout"]
MLP_KEYS = ["dim", "hidden", "depth", "emb_dim"]

CONFIGS = {
    "adm_legacy_scaleshift_updown": ("adm-unet", dict(
        dims=2, image_size=16, in_channels=3, model_channels=32, out_channels=6, num_res_blocks=1,
        attention_resolutions=[2, 4], channel_mult=[1, 1, 1], num_classes=None, num_heads=2,
        num_head_channels=-1, num_heads_upsample=-1, use_scale_shift_norm=True, resblock_updown=True,
        use_new_attention_order=False, conv_resample=True, dropout=0)),
    "adm_neworder_plain_classcond": ("adm-unet", dict(
        dims=2, image_size=16, in_channels=3, model_channels=32, out_channels=3, num_res_blocks=1,
        attention_resolutions=[1, 2], channel_mult=[1, 2], num_classes=10, num_heads=1,
        num_head_channels=32, num_heads_upsample=-1, use_scale_shift_norm=False, resblock_updown=False,
        use_new_attention_order=True, conv_resample=True, dropout=0)),
    "adm_halfmult_avgpool": ("adm-unet", dict(
        dims=2, image_size=8, in_channels=2, model_channels=64, out_channels=2, num_res_blocks=1,
        attention_resolutions=[2], channel_mult=[0.5, 1], num_classes=None, num_heads=4,
        num_head_channels=-1, num_heads_upsample=2, use_scale_shift_norm=True, resblock_updown=False,
        use_new_attention_order=False, conv_resample=False, dropout=0)),
    "adm_1d": ("adm-unet", dict(
        dims=1, image_size=32, in_channels=1, model_channels=32, out_channels=1, num_res_blocks=1,
        attention_resolutions=[2], channel_mult=[1, 1], num_classes=None, num_heads=1,
        num_head_channels=-1, num_heads_upsample=-1, use_scale_shift_norm=True, resblock_updown=True,
        use_new_attention_order=False, conv_resample=True, dropout=0)),
    "mlp_small": ("mlp", dict(dim=16, hidden=64, depth=3, emb_dim=32)),
}

ADM_GRAD_PARAMS = ["time_embed.0.weight", "input_blocks.0.0.weight", "input_blocks.1.0.in_layers.0.weight",
                   "input_blocks.1.0.emb_layers.1.bias", "middle_block.1.qkv.weight", "out.2.bias",
                   "label_emb.weight"]
MLP_GRAD_PARAMS = ["time_embed.0.weight", "input.weight", "blocks.1.bias", "output.weight"]

ADM_TIMESTEPS = [37.0, 911.0]
ADM_LABELS = [3, 7]
MLP_TIMESTEPS = [5.0, 250.0, 999.0]

# Tolerances (relative L2 unless said otherwise). The JVP is checked against a float64 central
# difference twice: the float64 JVP must meet 1e-6 (it lands near 1e-9), which validates the
# derivative code; the float32 JVP (the stored one) cannot, since float32 rounding alone moves the
# ADM forward pass by ~1e-6 and its JVP by ~2e-6, so it gets 1e-5.
JVP_FD_TOL = 1e-6    # float64 JVP vs float64 central difference
JVP32_FD_TOL = 1e-5  # float32 JVP vs float64 central difference
DOT_TOL = 1e-5       # |<u, Jv> - <J^T u, v>| / |<u, Jv>|, both from the float32 results
F32_TOL = 1e-5       # float32 forward / VJP / parameter gradients vs the float64 copy
FD_STEP = 1e-3       # finite-difference step along the unit-variance tangent


def build(arch, cfg):
    if arch == "adm-unet":
        assert list(cfg) == ADM_KEYS
        return UNetModel(**cfg)
    assert list(cfg) == MLP_KEYS
    return MLPDenoiser(**cfg)


def nonzero_randn(shape, gen):
    """Standard normal draws with exact zeros redrawn (float32 randn does return 0.0 now and then,
    and the files promise non-zero parameters)."""
    a = torch.randn(shape, generator=gen)
    while True:
        zeros = a == 0
        if not bool(zeros.any()):
            return a
        a[zeros] = torch.randn(int(zeros.sum()), generator=gen)


def randomize(model, gen):
    """Every parameter random and non-zero, with activations of order one:
    conv / linear weight ~ N(0, 1/fan_in), bias ~ N(0, 1/fan_in);
    GroupNorm weight ~ 1 + 0.1 N(0, 1), bias ~ 0.1 N(0, 1); embedding table ~ N(0, 1).
    Parameters are drawn in named_modules() order from one generator."""
    with torch.no_grad():
        for _, mod in model.named_modules():
            own = dict(mod.named_parameters(recurse=False))
            if not own:
                continue
            if isinstance(mod, torch.nn.GroupNorm):
                mod.weight.copy_(1 + 0.1 * nonzero_randn(mod.weight.shape, gen))
                mod.bias.copy_(0.1 * nonzero_randn(mod.bias.shape, gen))
            elif isinstance(mod, torch.nn.Embedding):
                mod.weight.copy_(nonzero_randn(mod.weight.shape, gen))
            elif isinstance(mod, (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d)):
                fan_in = mod.weight[0].numel()
                mod.weight.copy_(nonzero_randn(mod.weight.shape, gen) / fan_in ** 0.5)
                mod.bias.copy_(nonzero_randn(mod.bias.shape, gen) / fan_in ** 0.5)
            else:
                raise TypeError(f"no init rule for {type(mod).__name__} with {sorted(own)}")
    for name, p in model.named_parameters():
        assert p.dtype == torch.float32 and bool((p != 0).all()), name


def rel(a, b):
    """||a - b|| / ||b|| in float64."""
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).norm() / b.norm())


def make_one(name, arch, cfg):
    seed = zlib.crc32(name.encode())
    wgen = torch.Generator().manual_seed(seed)
    igen = torch.Generator().manual_seed(seed + 1)

    model = build(arch, cfg)
    randomize(model, wgen)
    # Parameters are stored as float16 (half the file size, and the loader's f16 path gets exercised):
    # round them first, so that the float32 computations below use exactly the stored values.
    with torch.no_grad():
        for p in model.parameters():
            h = p.half()
            h[h == 0] = 2.0 ** -14  # a draw below float16's range: keep it non-zero (smallest normal)
            p.copy_(h.float())
            assert bool((p != 0).all())
    model.eval()
    state = model.state_dict()
    params = dict(model.named_parameters())
    assert list(state) == list(params), "state_dict must hold parameters only"

    if arch == "adm-unet":
        n = 2
        spatial = (cfg["image_size"],) * cfg["dims"]
        x = torch.randn((n, cfg["in_channels"], *spatial), generator=igen)
        t = torch.tensor(ADM_TIMESTEPS, dtype=torch.float32)
        labels = torch.tensor(ADM_LABELS, dtype=torch.long) if cfg["num_classes"] is not None else None
        grad_names = [k for k in ADM_GRAD_PARAMS if k in params]
        assert set(ADM_GRAD_PARAMS) - set(grad_names) <= {"label_emb.weight"}
        assert ("label_emb.weight" in grad_names) == (labels is not None)

        def call(m, xx):
            return m(xx, t, labels) if labels is not None else m(xx, t)
    else:
        n = 3
        x = torch.randn((n, cfg["dim"]), generator=igen)
        t = torch.tensor(MLP_TIMESTEPS, dtype=torch.float32)
        labels = None
        grad_names = list(MLP_GRAD_PARAMS)

        def call(m, xx):
            return m(xx, t)

    v = torch.randn(x.shape, generator=igen)

    # Forward and JVP in float32.
    with torch.no_grad():
        y = call(model, x)
    y_jvp, jvp = torch.func.jvp(lambda xx: call(model, xx), (x,), (v,))
    y_jvp, jvp = y_jvp.detach(), jvp.detach()
    assert torch.equal(y_jvp, y) or rel(y_jvp, y) < 1e-6

    u = torch.randn(y.shape, generator=igen)

    # VJP and parameter gradients of <u, f(x)> in float32.
    xg = x.clone().requires_grad_(True)
    out = call(model, xg)
    grads = torch.autograd.grad((u * out).sum(), [xg] + [params[k] for k in grad_names])
    vjp = grads[0]
    param_grads = dict(zip(grad_names, grads[1:]))
    for k, g in param_grads.items():
        assert g.shape == params[k].shape and bool(g.abs().sum() > 0), k

    # A float64 copy of the same function (same weights, same float32 timestep embedding) gives
    # finite differences free of float32 rounding, and measures how much rounding is in the f32 values.
    m64 = copy.deepcopy(model).double()
    x64, v64 = x.double(), v.double()
    with torch.no_grad():
        def along(e):
            return call(m64, x64 + e * v64)
        h = FD_STEP
        y64 = along(0.0)
        fd2 = (along(h) - along(-h)) / (2 * h)
        # five-point central stencil: truncation error O(h^4), about 1e-12 here
        fd = (8 * (along(h) - along(-h)) - (along(2 * h) - along(-2 * h))) / (12 * h)
    _, jvp64 = torch.func.jvp(lambda xx: call(m64, xx), (x64,), (v64,))
    xg64 = x64.clone().requires_grad_(True)
    p64 = dict(m64.named_parameters())
    g64 = torch.autograd.grad((u.double() * call(m64, xg64)).sum(), [xg64] + [p64[k] for k in grad_names])

    lhs = float((u.double() * jvp.double()).sum())
    rhs = float((vjp.double() * v.double()).sum())
    checks = {
        "jvp_vs_fd": rel(jvp, fd),
        "jvp64_vs_fd": rel(jvp64, fd),
        "jvp64_vs_fd2": rel(jvp64, fd2),
        "dot_lhs": lhs,
        "dot_rhs": rhs,
        "dot_identity": abs(lhs - rhs) / abs(lhs),
        "y_vs_y64": rel(y, y64),
        "vjp_vs_vjp64": rel(vjp, g64[0]),
    }
    # A parameter gradient can be exactly zero in exact arithmetic (see README: the embedding bias of
    # a non-FiLM res block whose GroupNorm has one channel per group); float32 then returns rounding
    # noise, which no relative comparison can check.
    pg_rel, zero_grads = {}, []
    for k, g in zip(grad_names, g64[1:]):
        if float(g.norm()) <= 1e-9 * float(param_grads[k].double().norm() + 1):
            zero_grads.append(k)
        else:
            pg_rel[k] = rel(param_grads[k], g)
    checks["param_grads_vs_f64_max"] = max(pg_rel.values())
    checks["zero_grads"] = zero_grads
    checks["zero_grads_f32_norm"] = {k: float(param_grads[k].norm()) for k in zero_grads}

    summary = dict(
        name=name, arch=arch, params=sum(p.numel() for p in params.values()), tensors=len(state),
        x=tuple(x.shape), y=tuple(y.shape), y_rms=float(y.pow(2).mean().sqrt()),
        jvp_rms=float(jvp.pow(2).mean().sqrt()), vjp_rms=float(vjp.pow(2).mean().sqrt()), **checks)

    assert checks["jvp64_vs_fd"] < JVP_FD_TOL, (name, checks)
    assert checks["jvp_vs_fd"] < JVP32_FD_TOL, (name, checks)
    assert checks["dot_identity"] < DOT_TOL, (name, checks)
    assert checks["y_vs_y64"] < F32_TOL and checks["vjp_vs_vjp64"] < F32_TOL, (name, checks)
    assert checks["param_grads_vs_f64_max"] < F32_TOL, (name, checks)

    golden = dict(x=x, t=t, y=y, tangent=v, jvp=jvp, cotangent=u, vjp=vjp)
    if labels is not None:
        golden["labels"] = labels.to(torch.float32)
    return model, cfg, golden, param_grads, summary


def f32(t):
    a = t.detach().cpu().numpy()
    assert a.dtype == np.float32 and np.isfinite(a).all()
    return np.ascontiguousarray(a)


def write(path, arch, cfg, model, golden, param_grads):
    tmp = path + ".partial"
    with h5py.File(tmp, "w") as f:
        f.attrs["format"] = "tweedie-model"
        f.attrs["format_version"] = np.int64(1)
        f.attrs["architecture"] = arch
        f.attrs["config"] = json.dumps(cfg)
        for k, p in model.state_dict().items():
            half = f32(p).astype(np.float16)
            assert np.array_equal(half.astype(np.float32), f32(p)), k  # already rounded: exact
            f.create_dataset(f"parameters/{k}", data=half)
        for k, a in golden.items():
            f.create_dataset(f"golden/{k}", data=f32(a))
        for k, g in param_grads.items():
            f.create_dataset(f"golden/param_grads/{k}", data=f32(g))
    os.replace(tmp, path)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.normpath(os.path.join(here, "..", "..", "tests", "data")))
    ap.add_argument("--only", nargs="*", help="configuration names (default: all)")
    ap.add_argument("--dry-run", action="store_true", help="compute and check, write nothing")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(0)  # nothing should draw from the global generator; pinned anyway
    start = time.time()
    for name, (arch, cfg) in CONFIGS.items():
        if args.only and name not in args.only:
            continue
        model, cfg, golden, param_grads, s = make_one(name, arch, cfg)
        path = os.path.join(args.out, f"{name}.h5")
        if not args.dry_run:
            os.makedirs(args.out, exist_ok=True)
            write(path, arch, cfg, model, golden, param_grads)
        size = os.path.getsize(path) if not args.dry_run else 0
        print(f"{name}: {arch}, {s['params']} parameters in {s['tensors']} tensors, x {s['x']} -> y {s['y']}, "
              f"{size / 1e6:.3f} MB")
        print(f"  rms y {s['y_rms']:.3f}, jvp {s['jvp_rms']:.3f}, vjp {s['vjp_rms']:.3f}")
        print(f"  JVP vs central FD (f64, 5-point): f32 JVP {s['jvp_vs_fd']:.2e}, f64 JVP {s['jvp64_vs_fd']:.2e} "
              f"(3-point FD would give {s['jvp64_vs_fd2']:.2e})")
        print(f"  <u,Jv> = {s['dot_lhs']:.9g}, <J^T u,v> = {s['dot_rhs']:.9g}, rel diff {s['dot_identity']:.2e}")
        print(f"  f32 vs f64 model: y {s['y_vs_y64']:.2e}, vjp {s['vjp_vs_vjp64']:.2e}, "
              f"param grads (worst) {s['param_grads_vs_f64_max']:.2e}")
        for k, nrm in s["zero_grads_f32_norm"].items():
            print(f"  note: d<u,f>/d{k} is exactly zero in exact arithmetic; the stored f32 value is rounding "
                  f"noise of norm {nrm:.1e}")
    print(f"done in {time.time() - start:.1f} s")


if __name__ == "__main__":
    main()
