"""Measurements behind notebook 02's mechanism claims, taken on every seed: how hard the terminal
transitions pull under each loss, whether Q rises along the agent's own trajectories (where the
bootstrapped targets pull Q up), and how correlated consecutive updates' inputs are."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from .diagnostics import greedy_episodes
from .measures import td_pull
from .record import RLRun, over_training


class PullOverTraining(NamedTuple):
    """One run's pulls at every checkpoint (push = −dL/dQ summed over the last transitions)."""
    updates: np.ndarray
    from_rest: np.ndarray          # summed push of the non-terminal transitions
    from_terminal: np.ndarray      # summed push of the terminal ones
    terminal_count: np.ndarray     # how many terminal transitions the batch held


def pulls(run: RLRun, *, gamma: float, loss: str | None = None) -> PullOverTraining:
    """``td_pull`` at every checkpoint of ``run`` (its own loss unless ``loss`` is given), with the number
    of terminal transitions in each batch: under Huber the terminal push can never exceed that number."""
    loss = run.config.loss if loss is None else loss
    ups, res = over_training(run, lambda m, b: (td_pull(m, b, gamma=gamma, loss=loss), float(b["terminated"].sum())))
    return PullOverTraining(ups, np.array([p.from_rest for p, _ in res]), np.array([p.from_terminal for p, _ in res]),
                            np.array([n for _, n in res]))


@torch.no_grad()
def q_along_trajectories(model: torch.nn.Module, *, gamma: float, episodes: int = 20) -> dict:
    """Along the network's own greedy episodes: the share of non-terminal steps whose bootstrapped target
    1 + γ·max Q(s′) lies above max Q(s) (there the TD error pulls Q *up*, even when Q is far too high), and
    the median ratio max Q(s′) / max Q(s). Under γ < 1 a uniformly too-high Q makes every target fall
    below Q; the targets stay above it only where Q rises along the trajectory, by more than a factor 1/γ
    minus the reward's share."""
    up, ratios = [], []
    for ep in greedy_episodes(model, episodes):
        q = model(torch.as_tensor(ep["obs"])).max(-1).values.numpy().astype(float)
        if len(q) < 2:
            continue
        now, nxt = q[:-1], q[1:]
        up.append(1 + gamma * nxt > now)
        ratios.append(nxt / np.where(now == 0, np.nan, now))
    if not up:
        return {"target_above": float("nan"), "rise": float("nan"), "episode_length": 0.0}
    return {"target_above": float(np.concatenate(up).mean()), "rise": float(np.nanmedian(np.concatenate(ratios))),
            "episode_length": float(np.mean([len(u) + 1 for u in up]))}


def lag1(values) -> float:
    """Correlation between consecutive values of a series (NaN for a constant or too short series)."""
    v = np.asarray(values, dtype=float)
    if len(v) < 3 or v[:-1].std() == 0 or v[1:].std() == 0:
        return float("nan")
    return float(np.corrcoef(v[:-1], v[1:])[0, 1])


def pole_angle_lag1(run: RLRun) -> float:
    """``lag1`` of the pole angle over the run's last recorded transitions, in the order they were learned."""
    return lag1(run.batch["obs"][:, 2].numpy())
