"""The TD target and the TD loss, written once for the trainer, the surfaces, the summaries and the
diagnostics.

- target: y = r + gamma * (1 - terminated) * max_a' Q(s', a'), with no bootstrap past a terminal
  state (a truncation at the time limit bootstraps);
- loss: ``huber`` (smooth L1, the Nature DQN's clipped error) or ``mse`` between Q(s, a) and y.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("huber", "mse")


def check_loss(loss: str) -> None:
    """A clear error for a loss name that is not one of ``LOSSES``."""
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")


def td_target(rewards: torch.Tensor, terminated: torch.Tensor, next_q: torch.Tensor, *, gamma: float) -> torch.Tensor:
    """r + gamma * (1 - terminated) * max_a' Q(s', a'); ``next_q`` holds Q(s', a') over the actions in
    its last dimension. Gradients flow through ``next_q`` (the "moving-target" loss) unless it was
    computed without them."""
    return rewards + gamma * (1.0 - terminated) * next_q.max(dim=-1).values


def td_loss(q_sa: torch.Tensor, y: torch.Tensor, loss: str = "huber", reduction: str = "mean") -> torch.Tensor:
    """The TD loss between Q(s, a) and the targets ``y``: ``huber`` or ``mse``, with ``reduction`` as in
    ``torch.nn.functional``."""
    check_loss(loss)
    return (F.smooth_l1_loss if loss == "huber" else F.mse_loss)(q_sa, y, reduction=reduction)


def td_targets(target_model: torch.nn.Module, rewards, next_obs, terminated, *, gamma: float) -> torch.Tensor:
    """r + gamma * max_a' Q(s', a'), with no bootstrap past a terminal state (truncation bootstraps)."""
    with torch.no_grad():
        return td_target(rewards, terminated, target_model(next_obs), gamma=gamma)
