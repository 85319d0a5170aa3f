"""Small classifiers and their training loop, for the MNIST lesson (and its gradient-trouble gallery)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..model_state import global_rngs_kept, model_kept, snapshot
from ..progress import progress
from ..schedules import make_scheduler, step_scheduler
from ..training import TrainLog, check_clip_norm, check_lr, train_step

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


def mlp(sizes=(784, 128, 10), activation: str = "relu", init_scale: float = 1.0, seed: int | None = None):
    """``Flatten -> Linear -> act -> ... -> Linear``; ``init_scale`` multiplies PyTorch's default init
    (above 1 makes gradients explode in a deep net, below 1 makes them vanish). With ``seed``, the
    weights are drawn from ``torch.manual_seed(seed)``'s stream and the global generator is left as it was."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
    if len(sizes) < 2:
        raise ValueError(f"sizes needs an input and an output size, got {sizes}")
    if seed is None:
        return _mlp(sizes, activation, init_scale)
    with global_rngs_kept():
        torch.manual_seed(seed)
        return _mlp(sizes, activation, init_scale)


def _mlp(sizes, activation: str, init_scale: float) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Flatten()]
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    model = nn.Sequential(*layers)
    if init_scale != 1.0:
        with torch.no_grad():
            for m in model:
                if isinstance(m, nn.Linear):
                    m.weight.mul_(init_scale)
    return model


@dataclass
class Run:
    """A finished training run: its log, checkpoints along the way and the trained model."""
    model: nn.Module
    log: TrainLog
    checkpoints: list = field(default_factory=list)
    label: str = ""
    checkpoint_every: int = 10


def train_classifier(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int = 3,
                     batch_size: int = 64, lr: float = 0.05, momentum: float = 0.0,
                     clip_norm: float | None = None, schedule: str = "constant",
                     checkpoint_every: int = 10, seed: int = 0, label: str = "",
                     schedule_kw: dict | None = None, metric_window: int = 1) -> Run:
    """Minibatch SGD on cross-entropy; the LR schedule steps once per optimisation step.

    ``schedule_kw`` goes to ``make_scheduler`` (e.g. from ``schedules.fitted_schedule``). A
    ``plateau`` schedule watches the mean batch loss of the last ``metric_window`` steps (one batch
    loss is too noisy to tell a plateau from bad luck).

    Checkpoints (parameter snapshots) are taken at the start, every ``checkpoint_every`` steps and at
    the end, for trajectories. Shuffling uses its own generator seeded with ``seed``, so two runs
    that differ only in clipping or schedule see the same batches in the same order.
    """
    check_clip_norm(clip_norm)
    check_lr(lr)
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
    steps_per_epoch = -(-len(x) // batch_size)
    total = epochs * steps_per_epoch
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    if metric_window < 1:
        raise ValueError(f"metric_window must be >= 1, got {metric_window}")
    sched = make_scheduler(opt, schedule, total=total, **(schedule_kw or {}))
    g = torch.Generator().manual_seed(int(seed))
    log, ckpts = TrainLog(), [snapshot(model)]
    model.train()
    bar = progress(total=total, desc=f"training {label}".strip())
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(batch_size):
            xb, yb = x[idx], y[idx]
            res = train_step(opt, lambda: F.cross_entropy(model(xb), yb), clip_norm)
            log.record(res, opt)
            step_scheduler(sched, metric=float(np.mean(log.loss[-metric_window:])))
            if len(log) % checkpoint_every == 0:
                ckpts.append(snapshot(model))
            bar.update()
    bar.close()
    if len(log) % checkpoint_every:
        ckpts.append(snapshot(model))
    return Run(model.eval(), log, ckpts, label, checkpoint_every)


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Mean cross-entropy and accuracy of a model, computed in eval mode; the model's modes are kept."""
    with model_kept(model), torch.no_grad():
        out = model.eval()(x)
    return {"loss": float(F.cross_entropy(out, y)), "accuracy": float((out.argmax(1) == y).float().mean())}


def layer_grad_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Gradient norm of every Linear layer's weight for one batch, first layer first.

    Vanishing gradients (그래디언트 소실) show as norms shrinking towards the first layer; exploding
    gradients (그래디언트 폭발) as norms growing towards it. The batch runs in train mode; the model's modes,
    buffers (BatchNorm statistics) and ``.grad`` are as they were afterwards.
    """
    with model_kept(model):
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model.train()(x), y).backward()
        return [float(m.weight.grad.norm()) for m in model.modules() if isinstance(m, nn.Linear)]


class Gradient(NamedTuple):
    """The loss gradient at a model's weights: a ``{name: tensor}`` direction and its norm."""
    direction: dict
    norm: float


def gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Gradient:
    """The loss gradient as a ``{name: tensor}`` direction, and its norm; the model's ``.grad`` is kept."""
    with model_kept(model):
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        g = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
    norm = float(torch.sqrt(sum((v ** 2).sum() for v in g.values())))
    return Gradient(g, norm)


@dataclass
class Overshoot:
    """A 1-D slice of the loss along the negative gradient, with where two steps land."""
    index: int                  # which checkpoint the step starts from
    found: bool                 # True when the raw step lands higher than it started (and the clipped one lower)
    grad_norm: float
    raw_step: float             # distance moved by lr * gradient
    clipped_step: float         # distance moved by lr * clipped gradient
    line: object                # SurfaceResult along the unit negative-gradient direction
    start_loss: float
    raw_loss: float
    clipped_loss: float
    direction: dict = field(default_factory=dict)   # the unit negative-gradient direction {name: tensor}


def overshoot_slice(objective, checkpoints, model, x, y, lr: float, clip_norm: float | None,
                    points: int = 61) -> Overshoot:
    """Find the first checkpoint where an unclipped step of size ``lr * |g|`` jumps over the valley
    (lands higher than it started) while the clipped step lands lower, and slice the loss along its
    negative gradient.

    Falls back to the checkpoint with the largest gradient when no step overshoots.
    """
    from ..model_state import load_params
    from ..surface import loss_line

    best, chosen = None, None
    for i, ck in enumerate(checkpoints):
        g, n = gradient(load_params(model, ck), x, y)
        raw = lr * n
        clipped = raw if clip_norm is None else lr * min(n, clip_norm)
        d = {k: -v / n for k, v in g.items()}
        start, at_raw, at_clipped = loss_line(objective, ck, d, [0.0, raw, clipped]).values["loss"]
        if best is None or n > best[2]:
            best = (i, d, n, raw, clipped)
        if at_raw > start and (clip_norm is None or at_clipped < start):
            chosen = (i, d, n, raw, clipped)
            break
    found = chosen is not None
    i, d, n, raw, clipped = chosen or best
    alphas = np.unique(np.concatenate([np.linspace(-0.25 * raw, 1.25 * raw, points), [0.0, raw, clipped]]))
    line = loss_line(objective, checkpoints[i], d, alphas)
    at = lambda t: float(line.values["loss"][np.argmin(np.abs(line.alphas - t))])
    return Overshoot(i, found, n, raw, clipped, line, at(0.0), at(raw), at(clipped), d)
