"""Honest numbers about groups of RL runs: fresh-episode scores with their spread, the same per-state
|Q| statistic for every agent, a random-policy baseline, and where a TD loss pulls each Q-value."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from .env import initial_states, run_episodes
from .record import RLRun
from .td import check_loss, td_target, td_slope
from .trainer import TEST_SEED

SOLVED = 475          # CartPole-v1's "solved" threshold (mean return over 100 episodes)
LATE_FRACTION = 0.5   # the headline policy statistic averages the last half of the learning curve


def random_policy_returns(episodes: int = 100, seed: int = TEST_SEED) -> np.ndarray:
    """Returns of a uniformly random policy on the fresh test episodes (the floor any learner must beat)."""
    rng = np.random.default_rng(seed)
    return run_episodes(lambda obs, alive: rng.integers(0, 2, len(obs)), initial_states(range(seed, seed + episodes)))


def group(runs: list[RLRun]) -> dict[str, list[RLRun]]:
    """Runs by label, in order of first appearance."""
    out: dict[str, list[RLRun]] = {}
    for r in runs:
        out.setdefault(r.label, []).append(r)
    return out


def late_mean(run: RLRun, fraction: float = LATE_FRACTION) -> float:
    """The mean greedy return of the last ``fraction`` of a run's periodic evaluations: the area under the
    late learning curve, per evaluation. Less fragile than the final network alone (one time point) and
    not selected like the best network (the maximum of many noisy evaluations)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    values = np.array([v for _, v in run.evals], dtype=float)
    if not len(values):
        return float("nan")
    return float(values[-max(1, int(round(fraction * len(values)))):].mean())


class Scores(NamedTuple):
    """A group's fresh-episode scores over its seeds (each seed: the mean return on 100 fresh episodes)."""
    best_mean: float
    best_min: float
    best_max: float
    final_mean: float
    final_min: float
    final_max: float
    best_solved: int          # seeds whose best network solves (>= 475)
    final_solved: int
    seeds: int
    max_q_min: float          # the smallest, over seeds, of a run's largest per-state |Q|
    max_q: float              # the largest


def fresh_scores(runs: list[RLRun]) -> Scores:
    """Mean, min and max over seeds of the best and the final network's mean return on the 100 fresh
    episodes; how many seeds solve (>= 475) with each; the max per-state |Q| (smallest and largest over seeds)."""
    best = np.array([r.best_test.mean() for r in runs])
    final = np.array([r.final_test.mean() for r in runs])
    q = np.array([r.max_abs_q for r in runs])
    return Scores(best.mean(), best.min(), best.max(), final.mean(), final.min(), final.max(),
                  int((best >= SOLVED).sum()), int((final >= SOLVED).sum()), len(runs), q.min(), q.max())


def score_rows(groups: dict[str, list[RLRun]], random_returns: np.ndarray | None = None) -> list[dict]:
    """One table row per group: the late learning curve (``late_mean``, the headline policy statistic),
    fresh-episode scores of the best and final networks (mean [min-max] over seeds) and max per-state |Q|."""
    rows = []
    for label, runs in groups.items():
        s = fresh_scores(runs)
        late = np.array([late_mean(r) for r in runs])
        rows.append({"runs": label, "seeds": str(s.seeds),
                     "late curve: mean [min-max]": f"{late.mean():.1f} [{late.min():.1f}-{late.max():.1f}]",
                     "best net: mean [min-max]": f"{s.best_mean:.1f} [{s.best_min:.1f}-{s.best_max:.1f}]",
                     "final net: mean [min-max]": f"{s.final_mean:.1f} [{s.final_min:.1f}-{s.final_max:.1f}]",
                     "solved (best/final)": f"{s.best_solved}/{s.final_solved} of {s.seeds}",
                     "max per-state |Q|": f"{s.max_q_min:.3g}-{s.max_q:.3g}"})
    if random_returns is not None:
        m = float(np.mean(random_returns))
        rows.append({"runs": "random policy", "seeds": "-", "late curve: mean [min-max]": f"{m:.1f}", "best net: mean [min-max]": f"{m:.1f}",
                     "final net: mean [min-max]": f"{m:.1f}", "solved (best/final)": "-", "max per-state |Q|": "-"})
    return rows


class Pull(NamedTuple):
    """Where a TD loss pushes the Q-values of one batch (push = −dL/dQ(s, a): up > 0, down < 0)."""
    terminal_share: float           # fraction of the batch's transitions that end an episode
    from_terminal: float            # summed push on the terminal transitions' Q(s, a)
    from_rest: float                # summed push on the others'
    rest_target_above: float        # fraction of the others whose target is above their Q (NaN: none)


@torch.no_grad()
def td_pull(model: torch.nn.Module, batch: dict, *, gamma: float, loss: str = "huber") -> Pull:
    """Which way the TD loss pushes each Q(s, a) on a batch, targets from the same network (no target net).

    The push on one Q-value is -dL/dQ (per transition, before averaging): 2(y - Q) under MSE, y - Q
    clipped to +-1 under Huber (so a huge error pulls no harder than an error of 1). Returns the summed
    push from terminal transitions (their target is r alone: the only ones that tie Q to real rewards)
    and from the rest; > 0 pushes Q up, < 0 down.
    """
    check_loss(loss)
    q = model(batch["obs"]).gather(1, batch["actions"].unsqueeze(1)).squeeze(1)
    y = td_target(batch["rewards"], batch["terminated"], model(batch["next_obs"]), gamma=gamma)
    err = y - q
    push = -td_slope(q - y, loss)
    term = batch["terminated"] > 0
    return Pull(float(term.float().mean()), float(push[term].sum()), float(push[~term].sum()),
                float((err[~term] > 0).float().mean()) if (~term).any() else float("nan"))
