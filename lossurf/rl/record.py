"""What a training run keeps (its logs, checkpoints and best network), and a network rebuilt from any of its parameter sets."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
import torch.nn as nn

from ..training import TrainLog
from .config import RLConfig


@dataclass
class RLRun:
    """A finished run: final and best networks, their scores on fresh episodes, and the logs."""
    model: nn.Module                  # final online network
    best_model: nn.Module             # the network with the best greedy evaluation (ties: the later one)
    log: TrainLog                     # per update: TD loss, pre-clip grad norm, clipped, LR
    episode_returns: list = field(default_factory=list)
    episode_ends: list = field(default_factory=list)      # env step at which each episode ended
    evals: list = field(default_factory=list)             # (env step, mean greedy return on selection episodes)
    q_max: list = field(default_factory=list)             # per update: max over the batch's states and actions of |Q|
    step: list = field(default_factory=list)              # per update: length of the parameter step ||Δθ||
    checkpoints: list = field(default_factory=list)       # parameters at update 0, every checkpoint_every, the end
    checkpoint_updates: list = field(default_factory=list)  # the update count of each checkpoint
    checkpoint_batches: list = field(default_factory=list)  # the recent transitions at each checkpoint (optional)
    batch: dict = field(default_factory=dict)             # the final network's last transitions (TD-loss surfaces)
    best_batch: dict = field(default_factory=dict)        # the last transitions when the best network was chosen
    label: str = ""
    seed: int = 0
    config: RLConfig | None = None
    final_test: np.ndarray | None = None                  # returns of the final network on fresh episodes
    best_test: np.ndarray | None = None                   # returns of the best network on the same episodes

    @property
    def max_abs_q(self) -> float:
        """The largest per-state |Q(s, a)| seen in training (an honest Q is at most 1 / (1 - gamma));
        inf when the Q-values overflowed (inf or NaN): the run diverged."""
        if not len(self.q_max):
            return float("nan")
        q = np.abs(np.asarray(self.q_max, dtype=float))
        return float("inf") if not np.all(np.isfinite(q)) else float(q.max())   # overflowed = diverged

    @property
    def best_return(self) -> float:
        """The best mean greedy return of the periodic (selection) evaluations."""
        return max((r for _, r in self.evals), default=float("nan"))


def network_with(template: nn.Module, params) -> nn.Module:
    """A copy of ``template`` holding ``params`` (moved to the CPU), in eval mode; ``template`` is untouched."""
    model = copy.deepcopy(template)
    model.load_state_dict({k: v.cpu() for k, v in params.items()})
    return model.eval()


def model_with(run: RLRun, params) -> torch.nn.Module:
    """A copy of the run's network holding ``params`` (a checkpoint), in eval mode."""
    return network_with(run.model, params)


class OverTraining(NamedTuple):
    """``fn`` measured over a run's training: the updates it was measured at, and what it returned."""
    updates: np.ndarray
    results: list


def over_training(run: RLRun, fn) -> OverTraining:
    """``fn(model, batch)`` at every checkpoint that kept a batch (``checkpoint_batch`` > 0): the
    network then, on the transitions it had just experienced. Returns (updates, results)."""
    if not run.checkpoint_batches:
        raise ValueError("this run kept no batches with its checkpoints: train it with checkpoint_batch > 0")
    ups, out = [], []
    for u, params, batch in zip(run.checkpoint_updates, run.checkpoints, run.checkpoint_batches):
        if batch is not None:
            ups.append(u)
            out.append(fn(model_with(run, params), batch))
    return OverTraining(np.array(ups), out)
