"""Measurements behind notebook 01's lesson checks: each check prints a verdict line, never raises.

A lesson counts only when the picture and the numbers show it. A notebook cell states its claim with
``verdict(condition, claim, because)``, which returns ``"shown: <claim>"`` or ``"not shown with these
settings: <claim>, because <because>"``: a student who changes a parameter reads which case occurred,
and ``tests/`` asserts the verdicts of the committed parameters.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..objectives import Objective
from ..model_state import eval_mode

SHOWN = "shown: "
NOT_SHOWN = "not shown with these settings: "
GUESSING = math.log(10)          # cross-entropy of a 10-class network that guesses uniformly


def verdict(condition: bool, claim: str, because: str) -> str:
    """``"shown: claim"`` when ``condition`` holds, else ``"not shown with these settings: claim, because ..."``."""
    return SHOWN + claim if condition else f"{NOT_SHOWN}{claim}, because {because}"


@torch.no_grad()
def checkpoint_losses(objective: Objective, checkpoints, metric: str = "loss") -> np.ndarray:
    """The objective's ``metric`` at each checkpoint (its own weights, not a projection)."""
    with eval_mode(objective.model):
        return np.array([float(objective(ck)[metric]) for ck in checkpoints])


def instability(objective: Objective, run, every: int = 10, rise: float = 1.1) -> dict:
    """How unstable a run was, measured on the loss over the *whole* training set at checkpoints
    ``every`` steps apart (batch losses jump from batch to batch even in a calm run).

    Returns the losses (the final weights always included) and their ``steps``, ``rises``: how often the loss went up by more than ``rise`` (x1.1 = 10%)
    from one checkpoint to the next while the network was learning (loss below 90% of guessing,
    ln 10), ``max_rise`` (largest such ratio, 1.0 when none), and ``dead``: the run ends within 2% of
    the guessing loss ln 10 (a network that no longer learns).
    """
    ck_every = getattr(run, "checkpoint_every", every)
    stride = max(1, every // ck_every)
    idx = list(range(0, len(run.checkpoints), stride))
    if idx[-1] != len(run.checkpoints) - 1:                # always include the final weights
        idx.append(len(run.checkpoints) - 1)
    log = getattr(run, "log", None)
    steps = np.array([i * ck_every for i in idx])
    if log is not None and len(log):
        steps = np.minimum(steps, len(log))
    losses = checkpoint_losses(objective, [run.checkpoints[i] for i in idx])
    prev, nxt = losses[:-1], losses[1:]
    learning = np.isfinite(prev) & (prev < 0.9 * GUESSING)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(learning, nxt / prev, np.nan)
    ups = ratio[np.isfinite(ratio) & (ratio > rise)]
    final = float(losses[-1])
    return {"losses": losses, "steps": steps, "rises": int(ups.size), "max_rise": float(ups.max()) if ups.size else 1.0,
            "intervals": int(learning.sum()), "dead": bool(abs(final - GUESSING) < 0.02 * GUESSING),
            "final": final}


def weight_change(before: dict, after: dict) -> list[float]:
    """Relative change ‖W_after − W_before‖ / ‖W_before‖ of every weight matrix, first layer first."""
    names = [k for k, v in before.items() if k.endswith("weight") and v.dim() >= 2]
    return [float((after[k] - before[k]).norm() / before[k].norm()) for k in names]


def directional_curvature(objective: Objective, center: dict, direction: dict, metric: str = "loss") -> float:
    """Second derivative of the loss along ``direction`` at ``center``: dᵀHd / dᵀd (forward-over-reverse,
    ``torch.func``). Along the negative gradient it tells how long a step may be before it overshoots."""
    import warnings

    from torch.func import grad, jvp

    center = {k: v.detach() for k, v in center.items()}
    norm2 = sum(float((v ** 2).sum()) for v in direction.values())
    with eval_mode(objective.model), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)          # torch.func's first use imports torch.jit
        _, hv = jvp(grad(lambda p: objective(p)[metric]), (center,), (direction,))
    return float(sum((hv[k] * direction[k]).sum() for k in direction)) / norm2


def sharpness_or_nan(objective: Objective, checkpoints, seed: int = 0, **kw) -> np.ndarray:
    """``curvature.sharpness`` along checkpoints, never raising: a checkpoint whose weights are not finite,
    or whose eigen-solve fails (e.g. a network that diverged), gets NaN instead of stopping the lesson."""
    from ..curvature import hessian_eigs, sharpness

    finite = [all(bool(torch.isfinite(v).all()) for v in ck.values()) for ck in checkpoints]
    if all(finite):
        try:
            return sharpness(objective, checkpoints, seed=seed, **kw).values
        except (RuntimeError, ValueError, ArithmeticError):
            pass
    out = []
    for ck, ok in zip(checkpoints, finite):
        try:
            out.append(float(hessian_eigs(objective, ck, k=1, seed=seed, tol=kw.get("tol", 1e-3))[0][0]) if ok else np.nan)
        except (RuntimeError, ValueError, ArithmeticError):
            out.append(np.nan)
    return np.asarray(out, dtype=float)


def finite_checkpoints(checkpoints) -> list:
    """The checkpoints up to the first one whose weights overflowed (NaN/Inf): what a diverged run's
    geometry (planes, paths, slices) can still be drawn from."""
    out = []
    for ck in checkpoints:
        if not all(bool(torch.isfinite(v).all()) for v in ck.values()):
            break
        out.append(ck)
    return out
