"""How fast is a 2-D loss surface? lossurf against the plain loop (and loss-landscapes, if installed).

Everything is timed in this one run on this machine, and reported as points/s and ratios, so the
numbers compare like with like. Run from the project root:

    python benchmarks/surface_speed.py            # 51 x 51 grid, 10,000 MNIST test images
    python benchmarks/surface_speed.py --grid 21  # quicker
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("LOSSURF_PROGRESS", "0")

import numpy as np
import torch
import torch.nn as nn

import lossurf as ls
from lossurf.data import mnist_tensors


def trained_mlp(seed: int) -> nn.Module:
    """A 784-128-10 MLP trained for one quick epoch on 5,000 images (realistic weights)."""
    ls.seed_everything(seed)
    x, y = mnist_tensors(True, per_class=500, seed=seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for idx in torch.randperm(len(x)).split(64):
        ls.train_step(opt, lambda: nn.functional.cross_entropy(model(x[idx]), y[idx]))
    return model.eval()


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", type=int, default=51, help="points per axis (default 51)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--loop-points", type=int, default=None,
                    help="time the plain loop on only this many grid points (default: all)")
    ap.add_argument("--skip-rl", action="store_true", help="skip the CartPole return-surface benchmark")
    args = ap.parse_args()

    model = trained_mlp(0)
    ls.seed_everything(0, threads=args.threads)
    x, y = mnist_tensors(False)
    obj = ls.Supervised(model, x, y)
    dirs = ls.random_directions(model, 2, seed=1)
    axis = np.linspace(-1, 1, args.grid)
    n = args.grid ** 2
    print(f"MLP 784-128-10, {len(x)} MNIST test images, {args.grid}x{args.grid} = {n} points, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")

    rows = []
    cold, t_cold = timed(lambda: ls.loss_plane(obj, model, dirs, axis, axis, method="fast"))
    fast, t_fast = timed(lambda: ls.loss_plane(obj, model, dirs, axis, axis, method="fast"))
    rows.append(("lossurf fast path, first call (end to end)", n / t_cold))
    rows.append(("lossurf fast path, warm", n / t_fast))
    gen, t_gen = timed(lambda: ls.loss_plane(obj, model, dirs, axis, axis, method="vmap"))
    rows.append(("lossurf generic vmap path", n / t_gen))

    loop_n = min(n, args.loop_points or n)
    aa, bb = np.meshgrid(axis, axis, indexing="ij")
    coefs = np.stack([aa.ravel(), bb.ravel()], 1)[:loop_n]
    loop, t_loop = timed(lambda: ls.evaluate_points(obj, model, dirs, coefs, method="loop"))
    loop_rate = loop_n / t_loop
    rows.append((f"plain loop (copy weights into the model; {loop_n} points)", loop_rate))
    diff_fast = np.abs(fast.values["loss"].ravel()[:loop_n] - loop["loss"]).max()
    diff_gen = np.abs(gen.values["loss"].ravel()[:loop_n] - loop["loss"]).max()

    ll_rate = None
    try:
        import loss_landscapes
        import loss_landscapes.metrics
        metric = loss_landscapes.metrics.Loss(nn.CrossEntropyLoss(), x, y)
        torch.manual_seed(1)
        _, t_ll = timed(lambda: loss_landscapes.random_plane(model, metric, distance=1, steps=args.grid,
                                                             normalization="filter", deepcopy_model=True))
        ll_rate = n / t_ll
        rows.append(("loss-landscapes random_plane", ll_rate))
    except ImportError:
        print("(loss-landscapes not installed: `pip install loss-landscapes` to add it to the table)")

    print()
    header = f"{'method':58s} {'points/s':>9s} {'x loop':>7s}" + (f" {'x loss-landscapes':>18s}" if ll_rate else "")
    print(header)
    print("-" * len(header))
    for name, rate in rows:
        line = f"{name:58s} {rate:9.0f} {rate / loop_rate:7.1f}"
        if ll_rate:
            line += f" {rate / ll_rate:18.1f}"
        print(line)
    print()
    print(f"max |loss difference| from the plain loop: fast path {diff_fast:.2e}, vmap path {diff_gen:.2e}")
    print(f"one-time cost of the fast path's first call over a warm one: {t_cold - t_fast:+.2f} s "
          f"(no compilation: eager PyTorch)")
    if not args.skip_rl:
        rl_return_benchmark()




def rl_return_benchmark(grid: int = 21, episodes: int = 5, loop_points: int = 21) -> None:
    """Return surface of a trained DQN: batched (vector CartPole + vmapped policy) vs a gymnasium loop."""
    import gymnasium as gym

    from lossurf.rl import DQNConfig, initial_states, return_surface, train_dqn

    run = train_dqn(DQNConfig(), seed=0)
    model = run.best_model
    dirs = ls.random_directions(model, 2, seed=0)
    axis = np.linspace(-1, 1, grid)
    n = grid * grid
    surf, t_batched = timed(lambda: return_surface(model, model, dirs, axis, axis, episodes=episodes))
    center = ls.parameters_of(model)
    aa, bb = np.meshgrid(axis, axis, indexing="ij")
    coefs = np.stack([aa.ravel(), bb.ravel()], 1)
    pick = np.linspace(0, n - 1, loop_points).astype(int)
    starts = initial_states(range(10_000, 10_000 + episodes))

    def loop():
        out = []
        env = gym.make("CartPole-v1")
        for k in pick:
            m = ls.load_params(model, {q: center[q] + coefs[k, 0] * dirs[0][q] + coefs[k, 1] * dirs[1][q]
                                       for q in center})
            rets = []
            for e in range(episodes):
                obs, _ = env.reset(seed=10_000 + e)
                total, done = 0.0, False
                while not done:
                    with torch.no_grad():
                        a = int(m(torch.as_tensor(obs)).argmax())
                    obs, r, term, trunc, _ = env.step(a)
                    total, done = total + r, term or trunc
                rets.append(total)
            out.append(np.mean(rets))
        return np.array(out)

    looped, t_loop = timed(loop)
    assert np.allclose(looped, surf.values["return"].ravel()[pick]), "batched returns differ from the loop"
    batched_rate, loop_rate = n / t_batched, loop_points / t_loop
    print(f"\nCartPole-v1 return surface of a trained DQN (best greedy return {run.best_return:.0f}), "
          f"{grid}x{grid} points x {episodes} episodes")
    print(f"{'method':58s} {'points/s':>9s} {'x loop':>7s}")
    print(f"{'lossurf return_surface (vector CartPole + vmap)':58s} {batched_rate:9.1f} {batched_rate / loop_rate:7.1f}")
    print(f"{f'plain gymnasium loop ({loop_points} points)':58s} {loop_rate:9.1f} {1:7.1f}")
    print(f"whole grid batched: {t_batched:.1f} s; same returns as the loop on the {loop_points} points checked")


if __name__ == "__main__":
    main()
