"""How fast is a 2-D loss surface? Every lossurf path against the plain loop and loss-landscapes.

Everything is timed in this one run on this machine and reported as points/s and ratios, so the
numbers compare like with like. Cases: a 784-128-10 MLP with two sets of trained weights (A, B) on
the 10,000 MNIST test images (51 x 51), a small CNN (conv-BN-ReLU-pool x2, linear) on 2,000 MNIST
images (21 x 21), the MLP kernel on planes of growing size, the two sides of auto's vmap-or-loop
rule for models the fast path does not take, and a CartPole return surface. loss-landscapes is
optional (``pip install loss-landscapes==3.0.6``). Run from the project root:

    python benchmarks/surface_speed.py            # everything
    python benchmarks/surface_speed.py --skip-rl  # as measured for the README (2 threads)
    python benchmarks/surface_speed.py --grid 21 --skip-rl   # quicker
"""
from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("LOSSURF_PROGRESS", "0")

import numpy as np
import torch
import torch.nn as nn

import lossurf as ls
from lossurf import surface
from lossurf.mnist.data import mnist_tensors
from lossurf.grid import plane_coefs


def trained_mlp(seed: int, epochs: int = 1, lr: float = 0.1, momentum: float = 0.0) -> nn.Module:
    """A 784-128-10 MLP trained on 5,000 images (realistic weights)."""
    ls.seed_everything(seed)
    x, y = mnist_tensors(True, per_class=500, seed=seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    for _ in range(epochs):
        for idx in torch.randperm(len(x)).split(64):
            ls.train_step(opt, lambda: nn.functional.cross_entropy(model(x[idx]), y[idx]))
    return model.eval()


def trained_cnn(seed: int = 0) -> nn.Module:
    """conv-BN-ReLU-pool x2, linear; one epoch on 3,000 images (trained BatchNorm statistics)."""
    ls.seed_everything(seed)
    x, y = mnist_tensors(True, per_class=300, seed=seed)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(16 * 7 * 7, 10))
    x = x.reshape(-1, 1, 28, 28)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for idx in torch.randperm(len(x)).split(64):
        ls.train_step(opt, lambda: nn.functional.cross_entropy(model(x[idx]), y[idx]))
    return model.eval()


class Tempered(nn.Sequential):
    """The MLP with logits / 2 in its own forward: a model the fast path does not take."""

    def forward(self, x):
        return super().forward(x) / 2


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def loss_landscapes_rate(model, x, y, steps: int) -> float | None:
    """points/s of loss-landscapes' random_plane on a steps x steps grid (None if not installed)."""
    try:
        import loss_landscapes
        import loss_landscapes.metrics
    except ImportError:
        return None
    metric = loss_landscapes.metrics.Loss(nn.CrossEntropyLoss(), x, y)
    torch.manual_seed(1)
    _, t = timed(lambda: loss_landscapes.random_plane(model, metric, distance=1, steps=steps,
                                                      normalization="filter", deepcopy_model=True))
    return steps * steps / t


def subset(grid: int, points: int) -> np.ndarray:
    """``points`` grid points spread over the whole grid (for the slow paths' rates)."""
    axis = np.linspace(-1, 1, grid)
    coefs = plane_coefs(axis, axis)
    return coefs[np.linspace(0, len(coefs) - 1, min(points, len(coefs))).astype(int)]


def case(title, model, x, y, grid, slow_points, ll_steps, rows_out, warm: bool = True):
    """Time auto (first call; warm too if ``warm``), vmap, the loop and loss-landscapes on one model."""
    obj = ls.Supervised(model, x, y)
    dirs = ls.random_directions(model, 2, seed=1)
    axis = np.linspace(-1, 1, grid)
    n = grid * grid
    print(f"\n{title}: {len(x)} images, {grid}x{grid} = {n} points")
    auto, t_cold = timed(lambda: ls.loss_plane(obj, model, dirs, axis, axis))
    t_warm = timed(lambda: ls.loss_plane(obj, model, dirs, axis, axis))[1] if warm else None
    coefs = subset(grid, slow_points)
    loop, t_loop = timed(lambda: ls.evaluate_points(obj, model, dirs, coefs, method="loop"))
    loop_rate = len(coefs) / t_loop
    vm, t_vm = timed(lambda: ls.evaluate_points(obj, model, dirs, coefs, method="vmap"))
    fast_sub = ls.evaluate_points(obj, model, dirs, coefs, method="fast")
    ll = loss_landscapes_rate(model, x, y, ll_steps)
    ran = auto.metadata["method"]
    rows = [(f"lossurf auto ({ran}), first call, end to end", n / t_cold)]
    rows += [(f"lossurf auto ({ran}), warm", n / t_warm)] if warm else []
    rows += [(f"lossurf vmap ({len(coefs)} points)", len(coefs) / t_vm),
            (f"plain loop ({len(coefs)} points)", loop_rate)]
    if ll:
        rows.append((f"loss-landscapes random_plane ({ll_steps}x{ll_steps})", ll))
    table(rows, loop_rate, ll)
    idx = np.linspace(0, n - 1, len(coefs)).astype(int)              # the subset's grid indices
    d_auto = np.abs(auto.values["loss"].ravel()[idx] - loop["loss"]).max()
    d_fast = np.abs(fast_sub["loss"] - loop["loss"]).max()
    d_vm = np.abs(vm["loss"] - loop["loss"]).max()
    print(f"max |loss difference| from the loop: auto {d_auto:.1e}, fast {d_fast:.1e}, vmap {d_vm:.1e}"
          + (f"; first call over warm: {t_cold - t_warm:+.2f} s" if warm else ""))
    rows_out[title] = {"auto_cold": n / t_cold, "loop": loop_rate, "ll": ll,
                       "vmap": len(coefs) / t_vm, "diff": max(d_auto, d_fast)}


def table(rows, loop_rate, ll_rate):
    header = f"{'method':52s} {'points/s':>9s} {'x loop':>7s}" + (f" {'x loss-landscapes':>18s}" if ll_rate else "")
    print(header)
    print("-" * len(header))
    for name, rate in rows:
        line = f"{name:52s} {rate:9.1f} {rate / loop_rate:7.2f}"
        if ll_rate:
            line += f" {rate / ll_rate:18.2f}"
        print(line)


def generic_rule(points: int = 60) -> None:
    """Both sides of auto's rule for models the fast path does not take: vmap for small points,
    the loop when one point is already a large batched forward (on a CPU)."""
    print(f"\nauto's vmap-or-loop rule (CPU; threshold {surface.CPU_VMAP_MAX_BYTES / 2**20:.0f} MB per point), "
          f"on a Sequential subclass the fast path does not take")
    print(f"{'data':>8s} {'MB/point':>9s} {'auto picks':>10s} {'vmap pts/s':>11s} {'loop pts/s':>11s}")
    x, y = mnist_tensors(False)
    model = Tempered(*trained_mlp(0))
    for n in (256, 10_000):
        obj = ls.Supervised(model, x[:n], y[:n])
        dirs = ls.random_directions(model, 2, seed=1)
        coefs = subset(11, points)
        _, t_v = timed(lambda: ls.evaluate_points(obj, model, dirs, coefs, method="vmap"))
        _, t_l = timed(lambda: ls.evaluate_points(obj, model, dirs, coefs, method="loop"))
        pick = surface._generic_choice(obj, ls.parameters_of(model))
        print(f"{n:8d} {obj.bytes_per_point() / 2**20:9.1f} {pick:>10s} {len(coefs) / t_v:11.1f} "
              f"{len(coefs) / t_l:11.1f}")


def far_planes(model, x, y, grid: int = 21) -> None:
    """The MLP kernel's rate on planes of growing size, and how many exp(z - max) would underflow.

    An exp whose result is subnormal or zero runs 10-40x slower on a CPU; far from the centre,
    logits differ by more than 87, so exp(z - max) underflows unless its argument is clamped.
    """
    obj = ls.Supervised(model, x, y)
    dirs = ls.random_directions(model, 2, seed=1)
    center = ls.parameters_of(model)
    print(f"\nthe MLP kernel on planes of growing size (weights B, {grid}x{grid}, fast path)")
    print(f"{'plane':>8s} {'points/s':>9s} {'exp(z - max) < 2^-126':>22s}")
    for span in (1, 3, 10):
        axis = np.linspace(-span, span, grid)
        _, t = timed(lambda: ls.evaluate_points(obj, model, dirs, plane_coefs(axis, axis), method="fast"))
        under = []
        for a in (-span, span):
            point = {k: center[k] + a * dirs[0][k] + a * dirs[1][k] for k in center}
            with torch.no_grad():
                z = ls.load_params(model, point)(x)
            under.append(float(((z - z.amax(1, keepdim=True)) < -87.3).float().mean()))
        print(f"{'+-' + str(span):>8s} {grid * grid / t:9.1f} {max(under):21.1%}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", type=int, default=51, help="MLP points per axis (default 51)")
    ap.add_argument("--cnn-grid", type=int, default=21, help="CNN points per axis (default 21)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--slow-points", type=int, default=150,
                    help="grid points the loop and vmap are timed on for the MLP (CNN: a fifth)")
    ap.add_argument("--skip-rl", action="store_true", help="skip the CartPole return-surface benchmark")
    args = ap.parse_args()
    warnings.simplefilter("ignore", UserWarning)

    models = {"MLP 784-128-10, weights A (1 epoch, lr 0.1)": trained_mlp(0),
              "MLP 784-128-10, weights B (3 epochs, lr 0.05, momentum 0.9)": trained_mlp(1, 3, 0.05, 0.9)}
    cnn = trained_cnn(0)
    ls.seed_everything(0, threads=args.threads)
    print(f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    x, y = mnist_tensors(False)
    results = {}
    for title, model in models.items():
        case(title, model, x, y, args.grid, args.slow_points, 21, results)
    case("CNN conv-BN-ReLU-pool x2, linear", cnn, x[:2000].reshape(-1, 1, 28, 28), y[:2000], args.cnn_grid,
         max(10, args.slow_points // 5), 7, results, warm=False)
    far_planes(models["MLP 784-128-10, weights B (3 epochs, lr 0.05, momentum 0.9)"], x, y)
    generic_rule()
    print("\nsummary (auto, first call included):")
    for title, r in results.items():
        ll = f", {r['auto_cold'] / r['ll']:.1f}x loss-landscapes" if r["ll"] else ""
        print(f"  {title}: {r['auto_cold'] / r['loop']:.1f}x the loop{ll}; max |diff| {r['diff']:.1e}")
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
    coefs = plane_coefs(axis, axis)
    pick = np.linspace(0, n - 1, loop_points).astype(int)
    initial_states(range(10_000, 10_000 + episodes))

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
    print(f"{'method':52s} {'points/s':>9s} {'x loop':>7s}")
    print(f"{'lossurf return_surface (vector CartPole + vmap)':52s} {batched_rate:9.1f} {batched_rate / loop_rate:7.1f}")
    print(f"{f'plain gymnasium loop ({loop_points} points)':52s} {loop_rate:9.1f} {1:7.1f}")
    print(f"whole grid batched: {t_batched:.1f} s; same returns as the loop on the {loop_points} points checked")


if __name__ == "__main__":
    main()
