"""The TD target and the TD loss, written once for the trainer, the surfaces, the summaries and the
diagnostics.

- target: y = r + gamma * (1 - terminated) * max_a' Q(s', a'), with no bootstrap past a terminal
  state (a truncation at the time limit bootstraps);
- loss: ``huber`` (smooth L1, the Nature DQN's clipped error) or ``mse`` between Q(s, a) and y. Huber's
  ``delta`` is where it turns from squared to absolute error: each transition's pull -dL/dQ is capped at
  ±delta (1: DQN's; a large delta approaches the squared error, whose pull is not capped).
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


def check_delta(delta: float) -> None:
    """A clear error for a Huber delta that is not a positive finite number."""
    if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not 0 < delta < float("inf"):
        raise ValueError(f"huber_delta must be a positive finite number (1.0 is DQN's), got {delta!r}")


def td_loss(q_sa: torch.Tensor, y: torch.Tensor, loss: str = "huber", reduction: str = "mean", *,
            delta: float = 1.0) -> torch.Tensor:
    """The TD loss between Q(s, a) and the targets ``y``: ``huber`` (pull capped at ±``delta``) or ``mse``,
    with ``reduction`` as in ``torch.nn.functional``. Huber with delta 1 is ``smooth_l1_loss``, DQN's."""
    check_loss(loss)
    if loss == "mse":
        return F.mse_loss(q_sa, y, reduction=reduction)
    check_delta(delta)
    if delta == 1.0:
        return F.smooth_l1_loss(q_sa, y, reduction=reduction)
    return F.huber_loss(q_sa, y, reduction=reduction, delta=float(delta))


def td_slope(err: torch.Tensor, loss: str = "huber", delta=1.0) -> torch.Tensor:
    """dL/dQ(s, a) of one transition's TD loss at ``err`` = Q(s, a) - y (its pull on Q is minus this):
    2·err under ``mse``, err capped at ±``delta`` under ``huber`` (``delta`` a number or a tensor that
    broadcasts against ``err``)."""
    check_loss(loss)
    if loss == "mse":
        return 2.0 * err
    delta = torch.as_tensor(delta, dtype=err.dtype, device=err.device)
    return torch.maximum(torch.minimum(err, delta), -delta)


def td_targets(target_model: torch.nn.Module, rewards, next_obs, terminated, *, gamma: float) -> torch.Tensor:
    """r + gamma * max_a' Q(s', a'), with no bootstrap past a terminal state (truncation bootstraps)."""
    with torch.no_grad():
        return td_target(rewards, terminated, target_model(next_obs), gamma=gamma)
