"""The toy's three lessons as verdicts: the 2/λ₁ rule, what clipping does to a too-large rate, and what a
schedule does to it. On the bowl each is exact, so the verdicts hold on every machine and seed."""
from __future__ import annotations

import numpy as np

from ..report import fmt, verdict
from .bowl import Bowl, Path, check_bowl, regime


def steep_factor(path: Path) -> float:
    """The measured factor by which each step multiplies the steep coordinate θ₁ (the median of
    θ₁[t+1] / θ₁[t]); negative when every step jumps across the bottom."""
    th = path.points[:, 0]
    ok = np.abs(th[:-1]) > 1e-300
    return float(np.median(th[1:][ok] / th[:-1][ok]))


def regimes_verdict(bowl: Bowl, paths: dict[float, Path]) -> str:
    """Each constant rate η multiplies θ₁ by |1 − ηλ₁| per step, so it converges below 2/λ₁ and
    diverges above: the measured factor and the loss's fate are checked against the formula."""
    check_bowl(bowl)
    parts, holds = [], True
    for lr, p in paths.items():
        want, got = 1 - lr * bowl.lam1, steep_factor(p)
        grew = p.losses[-1] > p.losses[0]
        holds &= bool(np.isclose(got, want, rtol=1e-6, atol=1e-9)) and grew == (abs(want) > 1)
        parts.append(f"η {lr:g}: θ₁ x{fmt(got, 3)} per step (1 − ηλ₁ gives {fmt(want, 3)}), "
                     f"{regime(bowl, lr)}, loss {fmt(p.losses[0], 3)} → {fmt(p.losses[-1], 3)}")
    return verdict("1 − ηλ₁ predicts every run: converge below 2/λ₁, diverge above", holds, "; ".join(parts))


def clipping_verdict(bowl: Bowl, plain: Path, clipped: Path, lr: float, clip_norm: float) -> str:
    """Clipping caps a step at η·c, so a too-large rate can no longer run away, but near the bottom the
    capped steps still jump across it: θ₁ ends bouncing between about ±η·c/2 instead of settling."""
    if clip_norm is None:
        return verdict("clipping stops the divergence but not the overshooting", False,
                       "CLIP_NORM is None, so no run was clipped: set CLIP_NORM = 1.0 and rerun to compare")
    tail = np.abs(clipped.points[-10:, 0])
    holds = (plain.losses[-1] > 100 * plain.losses[0] and clipped.losses.max() <= clipped.losses[0]
             and bool(np.all(np.abs(tail - lr * clip_norm / 2) < 0.25 * lr * clip_norm)))
    return verdict("clipping stops the divergence but not the overshooting", holds,
                   f"final loss unclipped {fmt(plain.losses[-1], 3)}, clipped {fmt(clipped.losses[-1], 3)}; "
                   f"clipped |θ₁| over the last 10 steps {fmt(tail.min(), 3)}–{fmt(tail.max(), 3)} "
                   f"against η·c/2 = {fmt(lr * clip_norm / 2, 3)}")


def schedule_verdict(bowl: Bowl, scheduled: Path) -> str:
    """A schedule that lowers η below 2/λ₁ turns the divergence into convergence: the loss first grows
    while η > 2/λ₁, then falls to the bottom."""
    below = np.nonzero(scheduled.lrs < 2 / bowl.lam1)[0]
    holds = (below.size > 0 and scheduled.losses.max() > scheduled.losses[0]
             and scheduled.losses[-1] < 1e-2 * scheduled.losses[0])
    when = f"η below 2/λ₁ from step {below[0]}" if below.size else "η never below 2/λ₁"
    return verdict("a schedule that takes η below 2/λ₁ converges, after growing first", holds,
                   f"{when}; loss {fmt(scheduled.losses[0], 3)} → highest {fmt(scheduled.losses.max(), 3)} "
                   f"→ final {fmt(scheduled.losses[-1], 3)}")
