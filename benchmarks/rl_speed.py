"""How much faster is training R runs as one batched computation than one run per process?

    python benchmarks/rl_speed.py               # notebook 03's 10 runs and a 24-run ablation, full length
    python benchmarks/rl_speed.py --steps 10000 # shorter runs (same cadence), for a quick look

Measured in one run on this machine, both ways, on the same workload:
- batched: ``train_runs`` with all runs of a group stacked (torch threads = cores);
- process pool: the approach lossurf used before, each run alone (R = 1 of the same trainer, one torch
  thread) in a pool of one worker per core, two at a time on a 2-core CPU.
Both give the same per-run results (checked below on the losses); only the time differs.
"""
from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor

os.environ.setdefault("LOSSURF_PROGRESS", "0")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from lossurf.rl import DQNConfig, QNetConfig, train_many, train_runs  # noqa: E402


def notebook03_jobs(steps: int):
    base = DQNConfig(total_steps=steps)
    variants = [dataclasses.replace(base, clip_norm=None), dataclasses.replace(base, clip_norm=1.0),
                dataclasses.replace(base, clip_norm=1.0, schedule="plateau")]
    return [(cfg, s, f"v{i + 1} seed {s}") for i, cfg in enumerate(variants) for s in (0, 1, 2)] + \
        [(QNetConfig(total_steps=steps), 0, "Q-Network")]


def ablation_jobs(steps: int):
    base = DQNConfig(total_steps=steps, clip_norm=1.0)
    return [(dataclasses.replace(base, replay=rp, target_network=tg, loss=loss), s, f"{rp}/{tg}/{loss}/{s}")
            for rp in (True, False) for tg in (True, False) for loss in ("huber", "mse") for s in (0, 1, 2)]


def _one(job):
    cfg, seed, label = job
    return train_runs([dataclasses.replace(cfg, threads=1)], [seed], [label])[0].log.loss


def pool(jobs, workers: int):
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as ex:
        return list(ex.map(_one, jobs))


def measure(name: str, jobs, workers: int) -> None:
    jobs_batched = [(dataclasses.replace(c, threads=workers), s, l) for c, s, l in jobs]
    t0 = time.perf_counter()
    batched = train_many(jobs_batched)
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    alone = pool(jobs, workers)
    t_pool = time.perf_counter() - t0
    worst = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b.log.loss)) / (np.abs(a) + 1e-6)))
                for a, b in zip(alone, batched))
    n = len(jobs)
    print(f"{name}: {n} runs of {jobs[0][0].total_steps:,} env steps")
    print(f"  process pool ({workers} workers, 1 thread each): {t_pool:7.1f} s   {t_pool / n:5.1f} s per run")
    print(f"  batched (train_many, {workers} threads):          {t_batched:7.1f} s   {t_batched / n:5.1f} s per run")
    print(f"  speed-up: {t_pool / t_batched:.1f}x    largest relative loss difference between the two: {worst:.1e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50_000, help="env steps per run (default: the notebooks' 50,000)")
    ap.add_argument("--only", choices=("notebook03", "ablation"), help="measure one workload")
    args = ap.parse_args()
    workers = min(2, os.cpu_count() or 1)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, device: {'cuda' if torch.cuda.is_available() else 'cpu'}")
    if args.only in (None, "notebook03"):
        measure("notebook 03 (3 DQN variants x 3 seeds + the Q-Network)", notebook03_jobs(args.steps), workers)
    if args.only in (None, "ablation"):
        measure("ablation (replay x target x loss, 3 seeds)", ablation_jobs(args.steps), workers)


if __name__ == "__main__":
    main()
