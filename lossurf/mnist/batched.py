"""Several classifier runs as one computation, so a comparison can be repeated over seeds within the
notebook's time budget.

``train_many`` trains R MLPs of one architecture (``mlp``: Flatten, Linear, activation, ..., Linear) side
by side: their weights are stacked along a leading run axis, each layer is one batched matmul for all
runs, one backward pass gives every run its own gradient (the runs share nothing), and clipping,
momentum SGD and the LR schedule are applied per run. Each run follows what ``train_classifier`` does
with the same arguments (its own seed's batch order), to float rounding: tested in ``tests/``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..model_state import load_params, snapshot
from ..schedules import make_scheduler, step_scheduler
from ..training import StepResult, TrainLog, check_clip_norm, check_lr
from .classifier import Run

_ACT = {nn.ReLU: torch.relu, nn.Sigmoid: torch.sigmoid, nn.Tanh: torch.tanh}


@dataclass
class Spec:
    """One run of a batch: its initial model, the seed of its batch order and its optimiser settings."""
    model: nn.Module
    seed: int
    lr: float
    momentum: float = 0.0
    clip_norm: float | None = None
    schedule: str = "constant"
    schedule_kw: dict | None = None
    label: str = ""


def _layers(model: nn.Module):
    """The Linear layers' names and the activation of an ``mlp``; a clear error for anything else."""
    mods = list(model.named_children())
    if type(model) is not nn.Sequential or not mods or type(mods[0][1]) is not nn.Flatten:
        raise ValueError("train_many runs mlp() networks: nn.Sequential(Flatten, Linear, act, ..., Linear)")
    linears = [n for n, m in mods if type(m) is nn.Linear]
    acts = {type(m) for _, m in mods[1:] if type(m) is not nn.Linear}
    if len(acts) > 1 or not acts <= set(_ACT):
        raise ValueError(f"train_many needs one activation of {[a.__name__ for a in _ACT]}, got {acts}")
    return linears, _ACT[acts.pop()] if acts else None


def _forward(weights, biases, act, xb):
    h = xb
    for i, (w, b) in enumerate(zip(weights, biases)):
        h = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
        if i < len(weights) - 1:
            h = act(h)
    return h


def train_many(specs: list[Spec], x: torch.Tensor, y: torch.Tensor, *, epochs: int = 3, batch_size: int = 64,
               checkpoint_every: int = 10, metric_window: int = 1) -> list[Run]:
    """Train every ``Spec`` (same architecture, any seeds, LRs, momenta, clipping, schedules) at once.
    Returns one ``Run`` per spec, as ``train_classifier`` would; the specs' models are not modified."""
    linears, act = _layers(specs[0].model)
    shapes = [tuple(p.shape) for p in specs[0].model.parameters()]
    if any([tuple(p.shape) for p in s.model.parameters()] != shapes or _layers(s.model) != (linears, act) for s in specs):
        raise ValueError("train_many needs every run to have the same architecture")
    for s in specs:
        check_clip_norm(s.clip_norm), check_lr(s.lr)
    dev = x.device
    stack = lambda name: torch.stack([dict(s.model.named_parameters())[name].detach() for s in specs]).clone()
    ws = [stack(f"{n}.weight").requires_grad_() for n in linears]
    bs = [stack(f"{n}.bias").requires_grad_() for n in linears]
    params = [p for pair in zip(ws, bs) for p in pair]
    bufs = [torch.zeros_like(p) for p in params]
    dummies = [torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=s.lr) for s in specs]
    total = epochs * -(-len(x) // batch_size)
    scheds = [make_scheduler(o, s.schedule, total=total, **(s.schedule_kw or {})) for o, s in zip(dummies, specs)]
    clip = torch.tensor([float("inf") if s.clip_norm is None else s.clip_norm for s in specs], device=dev)
    mom = torch.tensor([s.momentum for s in specs], device=dev)
    gens = [torch.Generator().manual_seed(int(s.seed)) for s in specs]
    logs = [TrainLog() for _ in specs]
    ckpts = [[snapshot(s.model)] for s in specs]
    names = [k for k, _ in specs[0].model.named_parameters()]
    unstack = lambda r: {k: p[r].detach().clone() for k, p in zip(names, params)}
    for _ in range(epochs):
        orders = [torch.randperm(len(x), generator=g).split(batch_size) for g in gens]
        for idx in zip(*orders):
            idx = torch.stack(idx).to(dev)
            out = _forward(ws, bs, act, x[idx])
            losses = F.cross_entropy(out.flatten(0, 1), y[idx].flatten(), reduction="none").view(idx.shape).mean(1)
            grads = torch.autograd.grad(losses.sum(), params)
            norms = torch.sqrt(sum((g.flatten(1).double() ** 2).sum(1) for g in grads)).float()
            coef = torch.where(torch.isfinite(clip), torch.clamp(clip / (norms + 1e-6), max=1.0), torch.ones_like(norms))
            lrs = torch.tensor([o.param_groups[0]["lr"] for o in dummies], device=dev)
            with torch.no_grad():
                for p, g, buf in zip(params, grads, bufs):
                    shape = (-1,) + (1,) * (p.dim() - 1)
                    buf.mul_(mom.view(shape)).add_(g * coef.view(shape))
                    p.sub_(lrs.view(shape) * buf)
            lv, nv, cv = losses.detach().tolist(), norms.tolist(), (norms > clip).tolist()
            for r, (log, o, sch) in enumerate(zip(logs, dummies, scheds)):
                log.record(StepResult(lv[r], nv[r], cv[r]), o)
                o.step()                            # a no-op (no gradient); keeps the scheduler's order check quiet
                step_scheduler(sch, metric=float(np.mean(log.loss[-metric_window:])))
                if len(log) % checkpoint_every == 0:
                    ckpts[r].append(unstack(r))
    runs = []
    for r, s in enumerate(specs):
        if len(logs[r]) % checkpoint_every:
            ckpts[r].append(unstack(r))
        model = load_params(s.model, ckpts[r][-1]).eval()
        runs.append(Run(model, logs[r], ckpts[r], s.label, checkpoint_every))
    return runs

