"""Honest numbers about groups of RL runs: fresh-episode scores with their spread, the same per-state
|Q| statistic for every agent, a random-policy baseline, and where a TD loss pulls each Q-value."""
from __future__ import annotations

import numpy as np
import torch

from .agents import RLRun
from .env import initial_states, run_episodes
from .td import check_loss, td_target
from .trainer import TEST_SEED, _as_model

SOLVED = 475          # CartPole-v1's "solved" threshold (mean return over 100 episodes)


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


def fresh_scores(runs: list[RLRun]) -> dict[str, float]:
    """Mean, min and max over seeds of the best and the final network's mean return on the 100 fresh
    episodes; how many seeds solve (>= 475) with each; the max per-state |Q| (largest over seeds)."""
    best = np.array([r.best_test.mean() for r in runs])
    final = np.array([r.final_test.mean() for r in runs])
    q = np.array([r.max_abs_q for r in runs])
    return {"best mean": best.mean(), "best min": best.min(), "best max": best.max(),
            "final mean": final.mean(), "final min": final.min(), "final max": final.max(),
            "best solved": int((best >= SOLVED).sum()), "final solved": int((final >= SOLVED).sum()),
            "seeds": len(runs), "max |Q| min": q.min(), "max |Q|": q.max()}


def score_rows(groups: dict[str, list[RLRun]], random_returns: np.ndarray | None = None) -> list[dict]:
    """One table row per group: fresh-episode scores (mean [min-max]) and max per-state |Q|."""
    rows = []
    for label, runs in groups.items():
        s = fresh_scores(runs)
        rows.append({"runs": label, "seeds": str(s["seeds"]),
                     "best net: mean [min-max]": f"{s['best mean']:.1f} [{s['best min']:.1f}-{s['best max']:.1f}]",
                     "final net: mean [min-max]": f"{s['final mean']:.1f} [{s['final min']:.1f}-{s['final max']:.1f}]",
                     "solved (best/final)": f"{s['best solved']}/{s['final solved']} of {s['seeds']}",
                     "max per-state |Q|": f"{s['max |Q| min']:.3g}-{s['max |Q|']:.3g}"})
    if random_returns is not None:
        m = float(np.mean(random_returns))
        rows.append({"runs": "random policy", "seeds": "-", "best net: mean [min-max]": f"{m:.1f}",
                     "final net: mean [min-max]": f"{m:.1f}", "solved (best/final)": "-", "max per-state |Q|": "-"})
    return rows


@torch.no_grad()
def td_pull(model: torch.nn.Module, batch: dict, gamma: float, loss: str = "huber") -> dict[str, float]:
    """Which way the TD loss pushes each Q(s, a) on a batch, targets from the same network (no target net).

    The push on one Q-value is -dL/dQ (per transition, before averaging): 2(y - Q) under MSE, y - Q
    clipped to +-1 under Huber (so a huge error pulls no harder than an error of 1). Returns the summed
    push from terminal transitions (their target is r alone: the only ones that tie Q to real rewards)
    and from the rest; > 0 pushes Q up, < 0 down.
    """
    check_loss(loss)
    q = model(batch["obs"]).gather(1, batch["actions"].unsqueeze(1)).squeeze(1)
    y = td_target(batch["rewards"], batch["terminated"], model(batch["next_obs"]), gamma)
    err = y - q
    push = err.clamp(-1.0, 1.0) if loss == "huber" else 2.0 * err
    term = batch["terminated"] > 0
    return {"terminal share": float(term.float().mean()),
            "push from terminal": float(push[term].sum()), "push from the rest": float(push[~term].sum()),
            "rest with target above Q": float((err[~term] > 0).float().mean()) if (~term).any() else float("nan")}


def model_with(run: RLRun, params) -> torch.nn.Module:
    """A copy of the run's network holding ``params`` (a checkpoint), in eval mode."""
    return _as_model(run.model, params)


def over_training(run: RLRun, fn) -> tuple[np.ndarray, list]:
    """``fn(model, batch)`` at every checkpoint that kept a batch (``checkpoint_batch`` > 0): the
    network then, on the transitions it had just experienced. Returns (updates, results)."""
    if not run.checkpoint_batches:
        raise ValueError("this run kept no batches with its checkpoints: train it with checkpoint_batch > 0")
    ups, out = [], []
    for u, params, batch in zip(run.checkpoint_updates, run.checkpoints, run.checkpoint_batches):
        if batch is not None:
            ups.append(u)
            out.append(fn(model_with(run, params), batch))
    return np.array(ups), out
