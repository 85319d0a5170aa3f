"""What the reference arithmetic costs in speed: the same work pinned (AVX2 kernels, MKL and oneDNN on AVX2,
2 threads) and on this machine's own kernels, each in a fresh process, interleaved, as ratios within one run.

    python benchmarks/arithmetic_cost.py            # 5 rounds of each workload
    python benchmarks/arithmetic_cost.py --rounds 9

On a CPU whose best kernels are AVX2 the two are the same kernels, and the ratio measures only noise; on an
AVX-512 CPU it is what the pin gives up. Workloads: notebook 01's kind of work (a 784-128-64-10 MLP, forward and
backward on 5,000 images; a loss plane through the fast path) and notebooks 02/03's (a batch of small
Q-networks, many tiny matmuls).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from lossurf.arithmetic import PINS  # noqa: E402  (imports lossurf, which pins this process only)

WORK = r"""
import json, time
import lossurf as ls, torch
from lossurf import arithmetic
ls.seed_everything(0)
out = {"capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads()}
x, y = torch.randn(5000, 784), torch.randint(0, 10, (5000,))
net = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 64), torch.nn.ReLU(),
                          torch.nn.Linear(64, 10))
def mlp_steps():
    for _ in range(20):
        net.zero_grad(); torch.nn.functional.cross_entropy(net(x), y).backward()
def plane():
    obj = ls.Supervised(net, x[:2000], y[:2000])
    dirs = ls.random_directions(net, 2, seed=0)
    axis = ls.symmetric_axis(1.0, 15)
    ls.loss_plane(obj, ls.parameters_of(net), dirs, axis, axis)
w = [torch.randn(30, 64, 4), torch.randn(30, 32, 32)]
s = torch.randn(30, 4, 64)
def rl_batch():
    for _ in range(500):
        h = torch.relu(torch.bmm(w[0], s)); torch.bmm(w[1][:, :32, :32], h[:, :32]).sum()
for name, fn in (("MLP forward+backward x20", mlp_steps), ("loss plane 15x15", plane), ("30 Q-nets x500", rl_batch)):
    fn()                                        # warm
    t = time.perf_counter(); fn(); out[name] = time.perf_counter() - t
print(json.dumps(out))
"""


def run(native: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in PINS}     # each process pins (or not) by itself
    env["LOSSURF_ARITHMETIC"] = "native" if native else "reference"
    env["LOSSURF_PROGRESS"] = "0"
    done = subprocess.run([sys.executable, "-c", WORK], capture_output=True, text=True, cwd=ROOT, env=env)
    if done.returncode != 0:
        raise SystemExit(f"the workload failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    runs = {False: [], True: []}
    for _ in range(args.rounds):
        for native in (False, True):                 # interleaved: drift in the machine's speed hits both
            runs[native].append(run(native))
    pinned, native = runs[False], runs[True]
    print(f"pinned: torch runs {pinned[0]['capability']} kernels, {pinned[0]['threads']} threads; "
          f"native: {native[0]['capability']} kernels, {native[0]['threads']} threads; {args.rounds} rounds")
    print(f"{'workload':<26} {'pinned s':>9} {'native s':>9} {'pinned / native':>16}")
    for name in [k for k in pinned[0] if k not in ("capability", "threads")]:
        p = statistics.median(r[name] for r in pinned)
        n = statistics.median(r[name] for r in native)
        print(f"{name:<26} {p:9.3f} {n:9.3f} {p / n:15.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
