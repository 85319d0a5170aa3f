"""A 2-D quadratic bowl with known curvatures, where overshooting, the 2/λ rule, clipping and schedules
are exact: f(θ) = ½ Σ λᵢ θᵢ², so a gradient step multiplies coordinate i by (1 − η λᵢ).

The steps are taken with the same tools as on MNIST (``torch.optim.SGD``, ``clip_grad_norm_``,
``lossurf.schedules``), so what the toy shows exactly is what the real network does approximately.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

from ..schedules import fitted_schedule, make_scheduler, step_scheduler
from ..training import check_clip_norm, check_lr


class Bowl(NamedTuple):
    """f(θ) = ½ (λ₁ θ₁² + λ₂ θ₂²), its minimum at the origin; λ₁ ≥ λ₂ > 0 are its curvatures."""
    lam1: float = 10.0
    lam2: float = 1.0

    def loss(self, theta) -> np.ndarray:
        """f at each point of ``theta`` (..., 2)."""
        theta = np.asarray(theta, dtype=float)
        return 0.5 * (self.lam1 * theta[..., 0] ** 2 + self.lam2 * theta[..., 1] ** 2)


class Path(NamedTuple):
    """Where gradient descent went: the points (steps + 1, 2), their losses, the learning rate of each
    step, and the gradient norm before clipping."""
    points: np.ndarray
    losses: np.ndarray
    lrs: np.ndarray
    grad_norms: np.ndarray


def check_bowl(bowl: Bowl) -> Bowl:
    if not (math.isfinite(bowl.lam1) and math.isfinite(bowl.lam2) and bowl.lam1 >= bowl.lam2 > 0):
        raise ValueError(f"a bowl needs curvatures lam1 >= lam2 > 0, got {bowl.lam1} and {bowl.lam2}")
    return bowl


def regime(bowl: Bowl, lr: float) -> str:
    """What plain gradient descent with a constant ``lr`` does on the bowl, exactly: along the steep
    axis each step multiplies the distance by |1 − η λ₁|."""
    check_bowl(bowl)
    factor = 1 - check_lr(lr) * bowl.lam1
    if factor >= 0:
        return "converges smoothly"           # η ≤ 1/λ₁: every step stays on the same side
    if factor > -1:
        return "zig-zags, but converges"      # 1/λ₁ < η < 2/λ₁: it overshoots by less than it came
    return "oscillates forever" if factor == -1 else "diverges"   # η ≥ 2/λ₁


def descend(bowl: Bowl, start=(1.0, 1.0), lr: float = 0.05, steps: int = 30, clip_norm: float | None = None,
            schedule: str = "constant", **schedule_kwargs) -> Path:
    """``steps`` of gradient descent from ``start`` (float64, so the arithmetic is the formula's), with
    optional clipping of the gradient norm and an LR schedule from ``lossurf.schedules``. Without
    ``schedule_kwargs`` the schedule's time constants are fitted to ``steps`` (``fitted_schedule``), as
    on MNIST, so that every schedule acts within the run."""
    check_bowl(bowl)
    clip_norm = check_clip_norm(clip_norm)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    theta = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    lam = torch.tensor([bowl.lam1, bowl.lam2], dtype=torch.float64)
    opt = torch.optim.SGD([theta], lr=check_lr(lr))
    if not schedule_kwargs:
        schedule_kwargs = fitted_schedule(schedule, steps, lr)[0] if steps > 1 else {}
    sched = make_scheduler(opt, schedule, total=steps, **schedule_kwargs)
    points, lrs, norms = [theta.detach().clone()], [], []
    for _ in range(steps):
        opt.zero_grad()
        loss = 0.5 * (lam * theta ** 2).sum()
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_([theta], clip_norm or math.inf)))
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        step_scheduler(sched, float(loss.detach()))
        points.append(theta.detach().clone())
    pts = torch.stack(points).numpy()
    return Path(pts, bowl.loss(pts), np.array(lrs), np.array(norms))
