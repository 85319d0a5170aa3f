"""Measurements behind notebook 01's lesson checks: each check prints a verdict line, never raises.

A lesson counts only when the picture and the numbers show it: a notebook cell prints its claim with
``lossurf.report.verdict(claim, holds, measured)`` from the measurements here.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..objectives import Objective
from ..model_state import eval_mode

GUESSING = math.log(10)          # cross-entropy of a 10-class network that guesses uniformly


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


def line_bottom(line, metric: str = "loss") -> tuple[float, float]:
    """Where a 1-D slice is lowest: ``(a, value)`` at its smallest finite ``metric``."""
    v = np.asarray(line.values[metric], dtype=float)
    i = int(np.nanargmin(np.where(np.isfinite(v), v, np.nan)))
    return float(line.alphas[i]), float(v[i])


def init_gradient_norm(model, x: torch.Tensor, y: torch.Tensor) -> float:
    """The norm of the whole loss gradient at the model's weights (all layers together), on one batch."""
    from .classifier import gradient

    return gradient(model, x, y).norm


def rescaled_slices(objective: Objective, center: dict, scale: dict, alphas, seed: int = 0) -> dict:
    """Slices of one network and of a rescaled copy computing the same function (``scale``: a factor per
    parameter name, e.g. a ReLU layer x10 and the next /10), along one seeded random direction drawn
    unnormalised (scaled to the filter-normalised direction's length, so the distances compare) and
    filter-normalised. Returns ``{(normalization, "original" | "rescaled"): SurfaceResult}``."""
    from ..directions import flatten, random_directions
    from ..surface import loss_line

    copies = {"original": center, "rescaled": {k: v * scale.get(k, 1.0) for k, v in center.items()}}
    length = float(flatten(random_directions(center, n=1, seed=seed, normalization="filter")[0].values()).norm())
    out = {}
    for name, c in copies.items():
        raw = random_directions(c, n=1, seed=seed, normalization="none")[0]
        raw_len = float(flatten(raw.values()).norm())
        out["none", name] = loss_line(objective, c, {k: v * length / raw_len for k, v in raw.items()}, alphas)
        out["filter", name] = loss_line(objective, c, random_directions(c, n=1, seed=seed, normalization="filter")[0], alphas)
    return out


def parabola_miss(line, slope: float, lam: float, within: float, floor: float = 1e-3) -> float:
    """The largest relative miss of the parabola ``slope·a + ½·lam·a²`` against a slice's rise above its
    centre, over the points with 0 < |a| <= ``within`` where the parabola has risen by at least ``floor``
    (where slope and curvature nearly cancel, a relative miss measures rounding, not the picture)."""
    a = np.asarray(line.alphas, dtype=float)
    rise = np.asarray(line.values["loss"], dtype=float) - line.at_center()
    q = slope * a + 0.5 * lam * a ** 2
    inner = (np.abs(a) <= within) & (a != 0) & (np.abs(q) >= floor)
    return float(np.max(np.abs(rise[inner] - q[inner]) / np.abs(q[inner])))


def sharpness_along(objective: Objective, run, momentum: float = 0.0, every: int = 20, seed: int = 0):
    """λ₁ of a run's checkpoints ``every`` steps apart and its stability limit at those steps (from the
    run's own learning rate): ``(steps, sharpness, limit)``."""
    from ..curvature import stability_limit

    idx = list(range(0, len(run.checkpoints), max(1, every // run.checkpoint_every)))
    steps = np.minimum(np.array(idx) * run.checkpoint_every, len(run.log))
    lam = sharpness_or_nan(objective, [run.checkpoints[i] for i in idx], seed=seed)
    lim = np.array([stability_limit(lr, momentum) for lr in run.log.lr])
    return steps, lam, lim[np.minimum(steps, len(lim) - 1)]
