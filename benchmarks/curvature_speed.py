"""How fast is the curvature lens? Top Hessian eigenvalue of notebook 01's MLP on its 5,000 training images.

Trains the notebook's main model (784-128-64-10 ReLU MLP, SGD momentum 0.9, clipping 1.0, cosine
schedule, 3 epochs on 10 x 500 class-balanced MNIST training images), then times, in this one run on
this machine: ``hessian_eigs(k=1)`` end to end, its Hessian-vector products (HVPs), one HVP against one
gradient of the same loss, and ``sharpness`` along the run's checkpoints. Times are the best of a few
repeats (the top eigenvalue: of 2), so other load on the machine disturbs them least. Run from the
project root:

    python benchmarks/curvature_speed.py
    python benchmarks/curvature_speed.py --every 2   # sharpness at every 2nd checkpoint
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("LOSSURF_PROGRESS", "0")

import numpy as np
import torch

import lossurf as ls
from lossurf.mnist.classifier import mlp, train_classifier
from lossurf.curvature import HessianOperator
from lossurf.mnist.data import mnist_tensors


def timed(fn, repeat: int = 1):
    """The result of ``fn()`` and its best wall time over ``repeat`` calls (the least disturbed by other load)."""
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return out, min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--per-class", type=int, default=500, help="training images per class (notebook: 500)")
    ap.add_argument("--every", type=int, default=4, help="sharpness at every n-th checkpoint (default 4)")
    ap.add_argument("--repeat", type=int, default=5, help="repeats for the HVP and gradient timings (best kept)")
    args = ap.parse_args()

    ls.seed_everything(0, threads=args.threads)
    x, y = mnist_tensors(train=True, per_class=args.per_class, seed=0)
    run = train_classifier(mlp((784, 128, 64, 10), seed=0), x, y, epochs=3, lr=0.1, momentum=0.9,
                           clip_norm=1.0, schedule="cosine", seed=0, label="main")
    obj = ls.Supervised(run.model, x, y)
    n_params = sum(p.numel() for p in run.model.parameters())
    print(f"MLP 784-128-64-10 ({n_params:,} parameters) trained {len(run.log)} steps; {len(x):,} training "
          f"images; {torch.get_num_threads()} threads, torch {torch.__version__}")

    # one gradient and one HVP of the same full-batch loss, at the trained weights
    center = ls.parameters_of(run.model)

    def gradient():
        leaves = {k: v.clone().requires_grad_(True) for k, v in center.items()}
        return torch.autograd.grad(obj(leaves)["loss"], list(leaves.values()))

    op, t_setup = timed(lambda: HessianOperator(obj, center), 2)
    v = ls.random_directions(center, 1, seed=1, normalization="none")[0]
    t_grad, t_hvp = [], []
    for _ in range(args.repeat + 1):                  # interleaved, so both see the same machine load
        t_grad.append(timed(gradient)[1])
        t_hvp.append(timed(lambda: op.hvp(v))[1])
    t_grad, t_hvp = min(t_grad[1:]), min(t_hvp[1:])   # the first of each is a warm-up

    # the top eigenvalue end to end (operator set-up, Lanczos, eigenvector) and a check against it
    (vals, vecs, info), t_eig = timed(lambda: ls.hessian_eigs(obj, run.model, k=1), 2)
    hv = op.hvp(vecs[0])
    resid = float(torch.sqrt(sum(((hv[k] - vals[0] * vecs[0][k]) ** 2).sum() for k in hv)) / abs(vals[0]))

    ckpts = run.checkpoints[::args.every]
    (sharp, infos), t_sharp = timed(lambda: ls.sharpness(obj, ckpts))
    n_sharp = sum(i.n_hvp for i in infos)

    rows = [
        ("one gradient (forward + backward, 5,000 images)", f"{t_grad * 1e3:.0f} ms", ""),
        ("HVP operator set-up (loss + gradient graph, once per point)", f"{t_setup * 1e3:.0f} ms", ""),
        ("one HVP (double backward)", f"{t_hvp * 1e3:.0f} ms", f"{t_hvp / t_grad:.2f} x gradient"),
        (f"top eigenvalue, hessian_eigs(k=1), tol {info.tol:g}", f"{t_eig:.2f} s", f"{info.n_hvp} HVPs"),
        (f"sharpness at {len(ckpts)} of {len(run.checkpoints)} checkpoints (warm-started, tol 1e-2)",
         f"{t_sharp:.2f} s", f"{n_sharp} HVPs ({n_sharp / len(ckpts):.1f} per checkpoint)"),
    ]
    w = max(len(r[0]) for r in rows)
    print(f"\n| {'what':<{w}} | {'time':>8} | {'':<36} |\n|{'-' * (w + 2)}|{'-' * 9}:|{'-' * 38}|")
    for r in rows:
        print(f"| {r[0]:<{w}} | {r[1]:>8} | {r[2]:<36} |")
    print(f"\nload average of the machine during the run (1, 5, 15 min): "
          f"{', '.join(f'{v:.1f}' for v in os.getloadavg())} on {os.cpu_count()} cores")
    print(f"top eigenvalue {vals[0]:.4f}, residual |Hv - lv|/l = {resid:.1e}; stability limit of the main "
          f"run's first LR (0.1, momentum 0.9): {ls.stability_limit(0.1, 0.9):.1f}, plain SGD 2/0.1 = "
          f"{ls.stability_limit(0.1):.1f}")
    print("sharpness along the run:", np.array2string(sharp, precision=2))


if __name__ == "__main__":
    main()
