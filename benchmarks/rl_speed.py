"""How much faster is training R runs as one batched computation than one run per process?

    python benchmarks/rl_speed.py                 # notebook 03's 30 runs, full length
    python benchmarks/rl_speed.py --pool-sample 0 # time the process pool on every run (slow: ~20 min)
    python benchmarks/rl_speed.py --steps 10000   # shorter runs (same cadence), for a quick look

Measured in one run on this machine, both ways, on the same workload:
- batched: ``train_many`` with all runs of a group stacked (the trainer's own thread setting: one);
- process pool: the approach lossurf used before, each run alone (R = 1 of the same trainer, one torch
  thread) in a pool of one worker per core, two at a time on a 2-core CPU.
The pool's time is measured on ``--pool-sample`` runs (spread over the configurations) and scaled to
the whole workload: every run has the same length and cadence, so each costs about the same alone
(the per-run times are printed). Both make the same random choices per run and the same
arithmetic to float rounding; over 24,500 updates the runs' last-bit differences grow (printed).
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

from lossurf.rl import DQNConfig, train_many, train_runs  # noqa: E402


def notebook03_jobs(steps: int):
    """Notebook 03's long cell: replay x target network x loss, v1 (no clipping), v3 (+ schedule), 3 seeds."""
    base = DQNConfig(total_steps=steps, clip_norm=1.0)
    configs = [dataclasses.replace(base, replay=rp, target_network=tg, loss=loss)
               for loss in ("huber", "mse") for rp in (True, False) for tg in (True, False)]
    configs += [dataclasses.replace(base, clip_norm=None),
                dataclasses.replace(base, schedule="decay_floor", schedule_kwargs={"min_lr": 1.15e-3})]
    return [(cfg, s, f"config {i} seed {s}") for i, cfg in enumerate(configs) for s in (0, 1, 2)]


def _one(job):
    cfg, seed, label = job
    return train_runs([dataclasses.replace(cfg, threads=1)], [seed], [label])[0].log.loss


def pool(jobs, workers: int):
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as ex:
        return list(ex.map(_one, jobs))


def measure(name: str, jobs, workers: int, sample: int) -> None:
    t0 = time.perf_counter()
    batched = train_many(jobs)
    t_batched = time.perf_counter() - t0
    n = len(jobs)
    picked = list(range(n)) if not sample or sample >= n else \
        sorted({round(i * (n - 1) / (sample - 1)) for i in range(sample)})
    t0 = time.perf_counter()
    alone = pool([jobs[i] for i in picked], workers)
    t_pool_sample = time.perf_counter() - t0
    t_pool = t_pool_sample * n / len(picked)
    early = 1_000          # Q-learning amplifies last-bit differences: compare the first updates, then the whole run
    rel = lambda a, b: float(np.max(np.abs(np.asarray(a) - np.asarray(b)) / (np.abs(np.asarray(a)) + 1e-6)))
    worst_early = max(rel(a[:early], batched[i].log.loss[:early]) for a, i in zip(alone, picked))
    worst = max(rel(a, batched[i].log.loss) for a, i in zip(alone, picked))
    print(f"{name}: {n} runs of {jobs[0][0].total_steps:,} env steps")
    print(f"  process pool ({workers} workers, 1 thread each): {t_pool:7.1f} s   {t_pool / n * workers:5.1f} s per run"
          + ("" if len(picked) == n else f"   (measured on {len(picked)} runs: {t_pool_sample:.1f} s, scaled to {n})"))
    print(f"  batched (train_many, one computation):      {t_batched:7.1f} s   {t_batched / n:5.1f} s per run")
    print(f"  speed-up: {t_pool / t_batched:.1f}x")
    print(f"  largest relative difference of the TD losses, alone vs batched: {worst_early:.1e} over the first "
          f"{early:,} updates, {worst:.1e} over the whole run (last-bit differences grow: see lossurf.rl.trainer)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=50_000, help="env steps per run (default: the notebooks' 50,000)")
    ap.add_argument("--pool-sample", type=int, default=6,
                    help="runs to time in the process pool, scaled to the workload (0 = all of them)")
    args = ap.parse_args()
    workers = min(2, os.cpu_count() or 1)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, device: {'cuda' if torch.cuda.is_available() else 'cpu'}")
    measure("notebook 03 (replay x target x loss, v1, v3; 3 seeds each)", notebook03_jobs(args.steps), workers,
            args.pool_sample)


if __name__ == "__main__":
    main()
