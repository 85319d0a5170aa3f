"""A comparison repeated over seeds: one run per seed through ``train_classifier`` itself, and the
statistics a verdict quotes (how many seeds agree, a mean with its spread).

Why not batched: measured on the 2-core machine the notebook is timed on, 18 runs of the 100k-weight MLP
stacked into batched matmuls took 21.5 s against 0.8 s per run one at a time; the runs are memory-bound.
"""
from __future__ import annotations

import numpy as np

from ..report import fmt
from .classifier import mlp, train_classifier

def train_seeds(sizes, seeds, x, y, *, activation: str = "relu", init_scale: float = 1.0, device=None, **kw) -> list:
    """``train_classifier(mlp(sizes, activation, init_scale, seed=s), x, y, seed=s, **kw)`` for each seed ``s``:
    each run its own initial weights and batch order, everything else equal."""
    runs = []
    for s in seeds:
        model = mlp(sizes, activation, init_scale=init_scale, seed=s)
        runs.append(train_classifier(model.to(device) if device else model, x, y, seed=s, **kw))
    return runs


def spread(values, digits: int = 3) -> str:
    """``"mean ± sd (min a, max b)"`` of one number per seed, NaN/inf kept visible (``nan`` when any run diverged)."""
    v = np.asarray(values, dtype=float)
    if len(v) == 1:
        return fmt(v[0], digits)
    centre = fmt(v.mean(), digits)
    same = (lambda u: fmt(u, digits)) if "e" in centre else (lambda u: f"{u:.{digits}f}")   # one style: stable widths
    return f"{centre} ± {same(v.std(ddof=1))} (min {same(v.min())}, max {same(v.max())})"


def agree(flags) -> str:
    """``"k of n seeds"``: how many of the per-seed checks hold."""
    flags = [bool(f) for f in flags]
    return f"{sum(flags)} of {len(flags)} seeds"


def finite_max(values) -> float:
    """The largest finite value (a diverged run's log ends in inf/NaN); NaN when none is finite."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(v.max()) if v.size else float("nan")


def clipping_rows(grad_norms: dict, clip_of: dict, seeds, accuracy: dict) -> list[dict]:
    """One table row per run and seed of the clipping comparison: the largest pre-clip norm, when the
    norm first passed 10 and when it peaked, the share of clipped steps in each half of the run, test accuracy."""
    rows = []
    for label, per_seed in grad_norms.items():
        limit = clip_of[label] if clip_of[label] is not None else np.inf
        for s, g, acc in zip(seeds, per_seed, accuracy[label]):
            half = len(g) // 2
            finite = np.where(np.isfinite(g), g, np.nan)
            rows.append({"run": label, "seed": str(s), "max pre-clip |g|": finite_max(g),
                         "first step |g| > 10": str(int(np.argmax(g > 10))) if (g > 10).any() else "-",
                         "step of max": str(int(np.nanargmax(finite))), "% clipped, 1st half": 100 * np.mean(g[:half] > limit),
                         "2nd half": 100 * np.mean(g[half:] > limit), "test acc": acc})
    return rows


def fate(m: dict) -> str:
    """How a run ended, from ``instability``'s measurement: overflowed, at the guessing loss, or its loss."""
    if not np.isfinite(m["final"]):
        return "overflowed (NaN)"
    return "guessing" if m["dead"] else f"loss {fmt(m['final'], 2)}"
