"""One optimisation step with optional gradient clipping (그래디언트 클리핑), and a log of what it did."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch


@dataclass(frozen=True)
class StepResult:
    """What a training step reports: loss, gradient norm *before* clipping, and whether it clipped."""
    loss: float
    grad_norm: float
    clipped: bool


def check_clip_norm(clip_norm: float | None) -> float | None:
    """``None`` (no clipping) or a positive finite float; anything else is a clear error."""
    if clip_norm is None:
        return None
    if isinstance(clip_norm, bool) or not isinstance(clip_norm, (int, float)):
        raise ValueError(f"clip_norm must be None (no clipping) or a positive number, got {clip_norm!r}")
    if not (clip_norm > 0 and math.isfinite(clip_norm)):
        raise ValueError(f"clip_norm must be positive and finite (e.g. 1.0), or None to switch clipping "
                         f"off; got {clip_norm}")
    return float(clip_norm)


def check_lr(lr: float) -> float:
    """A learning rate must be a positive finite number."""
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"learning rate must be a positive number such as 1e-3, got {lr!r}")
    return float(lr)


def train_step(optimizer: torch.optim.Optimizer, compute_loss: Callable[[], torch.Tensor],
               clip_norm: float | None = None) -> StepResult:
    """zero_grad -> loss -> backward -> (clip_grad_norm_) -> optimizer.step.

    ``clip_norm=None`` leaves the gradient untouched ("v1"); a float rescales it to that norm when
    larger ("v2", default 1.0 in the notebooks). The returned norm is always the pre-clip one, so
    plots show what clipping had to fight.
    """
    clip_norm = check_clip_norm(clip_norm)
    optimizer.zero_grad(set_to_none=True)
    loss = compute_loss()
    loss.backward()
    params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if clip_norm is None:
        norm = torch.nn.utils.get_total_norm([p.grad for p in params]) if params else torch.zeros(())
        clipped = False
    else:
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm=clip_norm)
        clipped = bool(norm > clip_norm)
    optimizer.step()
    return StepResult(float(loss.detach()), float(norm), clipped)


def current_lr(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


@dataclass
class TrainLog:
    """Per-step loss, pre-clip gradient norm, clipped flag and learning rate, for plotting."""
    loss: list = field(default_factory=list)
    grad_norm: list = field(default_factory=list)
    clipped: list = field(default_factory=list)
    lr: list = field(default_factory=list)

    def record(self, result: StepResult, optimizer: torch.optim.Optimizer) -> None:
        self.loss.append(result.loss)
        self.grad_norm.append(result.grad_norm)
        self.clipped.append(result.clipped)
        self.lr.append(current_lr(optimizer))

    def __len__(self) -> int:
        return len(self.loss)

    def arrays(self) -> dict[str, np.ndarray]:
        return {"loss": np.asarray(self.loss, dtype=float),
                "grad_norm": np.asarray(self.grad_norm, dtype=float),
                "clipped": np.asarray(self.clipped, dtype=bool),
                "lr": np.asarray(self.lr, dtype=float)}

    @property
    def fraction_clipped(self) -> float:
        return float(np.mean(self.clipped)) if self.clipped else 0.0

    @property
    def max_grad_norm(self) -> float:
        return float(np.max(self.grad_norm)) if self.grad_norm else 0.0
