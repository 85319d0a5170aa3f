"""Run independent training runs (seeds, variants) side by side, one per CPU core.

Each run is seeded on its own and uses one thread, so its result is the same as when it runs alone;
two cores finish a batch of runs in about half the time.
"""
from __future__ import annotations

import dataclasses
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from .agents import DQNConfig, QNetConfig, train_dqn, train_qnetwork

TRAINERS = {DQNConfig: train_dqn, QNetConfig: train_qnetwork}


def _train(job):
    cfg, seed, label = job
    os.environ["LOSSURF_PROGRESS"] = "0"
    return TRAINERS[type(cfg)](cfg, seed=seed, label=label)


def train_many(jobs, workers: int | None = None):
    """Train every ``(config, seed, label)`` job; results in the same order as ``jobs``."""
    jobs = [(dataclasses.replace(cfg, threads=1), seed, label) for cfg, seed, label in jobs]
    for cfg, _, _ in jobs:
        if type(cfg) not in TRAINERS:
            raise ValueError(f"jobs take a QNetConfig or DQNConfig, got {type(cfg).__name__}")
    workers = workers or min(2, os.cpu_count() or 1, len(jobs))
    if workers <= 1:
        return [_train(j) for j in jobs]
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_train, jobs))
