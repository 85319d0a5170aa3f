"""One call that makes a run repeatable: the same seed gives the same numbers and pictures."""
from __future__ import annotations

import os
import random

import numpy as np
import torch

from .arithmetic import REFERENCE_THREADS

DEFAULT_THREADS = REFERENCE_THREADS


def seed_everything(seed: int, threads: int | None = DEFAULT_THREADS, env=None) -> torch.Generator:
    """Seed every source of randomness the series uses and return a seeded torch Generator.

    Each line is here for a reason:
    - ``random`` / ``numpy`` / ``torch``: weight init, data subsets, epsilon-greedy and replay sampling.
    - deterministic algorithms: some kernels (mostly on GPU) pick a fast non-deterministic variant;
      ``warn_only`` keeps an op without a deterministic version usable instead of crashing a lesson.
    - a fixed thread count: how a reduction is split over threads changes the last bits of a sum,
      so the same thread count on every machine keeps stored notebook outputs comparable.
    - ``env`` (a gymnasium Env, optional): ``reset(seed=...)`` seeds its dynamics and initial states,
      and the action space has its own generator, used by ``env.action_space.sample()``.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    # cuBLAS needs this set before its first use to be deterministic on a GPU.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    if torch.backends.cudnn.is_available():
        torch.backends.cudnn.benchmark = False
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(int(threads))
    if env is not None:
        seed_env(env, seed)
    return torch.Generator().manual_seed(seed)


def seed_env(env, seed: int) -> None:
    """Seed a gymnasium env (its reset and its action space) so episodes replay exactly."""
    env.reset(seed=int(seed))
    env.action_space.seed(int(seed))


def device() -> torch.device:
    """The GPU when one is present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
