"""R independent Q-networks as one computation: one flat (R, P) parameter tensor, batched matmuls,
per-run clipping and per-run Adam/SGD. Each run's row gets the arithmetic it would get alone, to float
rounding (see ``trainer``: not bit for bit).

A ``q_network`` is ``Linear -> ReLU -> ... -> Linear``. Its R copies live in one tensor, a row per run;
each layer's weight and bias are views into it, so the forward pass is one ``baddbmm`` per layer for all
runs, and the optimiser, the clipping and the target sync are a few whole-tensor operations. A small
network on a 64-row batch spends its time on dispatch, not arithmetic: that is what this saves.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from ..directions import flatten

Params = dict[str, torch.Tensor]


class StackedMLP:
    """The layout of R stacked copies of a Linear/ReLU ``nn.Sequential`` (``q_network``)."""

    def __init__(self, model: nn.Module):
        if type(model) is not nn.Sequential:
            raise ValueError(f"the batched trainer runs q_network() MLPs (an nn.Sequential of Linear and ReLU), "
                             f"got {type(model).__name__}")
        self.layers = []
        for name, m in model.named_children():
            if type(m) is nn.Linear and m.bias is not None:
                self.layers.append(name)
            elif type(m) is not nn.ReLU:
                raise ValueError(f"the batched trainer runs Linear (with bias) / ReLU MLPs; layer {name} is {m!r}")
        if not self.layers or type(list(model.children())[-1]) is not nn.Linear:
            raise ValueError("a q_network ends with a Linear layer (one Q-value per action)")
        self.shapes = {k: v.shape for k, v in model.named_parameters()}
        self.sizes = [s.numel() for s in self.shapes.values()]
        self.size = sum(self.sizes)

    def stack(self, models: list[nn.Module], device=None) -> torch.Tensor:
        """The (R, P) tensor holding ``models``' parameters, a row each (the models stay untouched)."""
        rows = [flatten(p.detach() for p in m.parameters()) for m in models]
        return torch.stack(rows).to(device)

    def views(self, flat: torch.Tensor) -> Params:
        """``{name: (R, *shape) view}`` of a flat (R, P) tensor."""
        parts = torch.split(flat, self.sizes, dim=1)
        return {k: p.view(flat.shape[0], *s) for (k, s), p in zip(self.shapes.items(), parts)}

    def unstack(self, flat: torch.Tensor, r: int) -> Params:
        """Run ``r``'s parameters as detached copies, named as in the model's ``state_dict``."""
        return {k: v[r].detach().clone() for k, v in self.views(flat).items()}

    def forward(self, params, x: torch.Tensor) -> torch.Tensor:
        """Q-values of every run: ``x`` (R, B, obs) -> (R, B, actions). ``params`` is a flat (R, P)
        tensor or its ``views`` (cache them: the views of a tensor updated in place stay current)."""
        p = self.views(params) if isinstance(params, torch.Tensor) else params
        for i, name in enumerate(self.layers):
            x = torch.baddbmm(p[f"{name}.bias"].unsqueeze(1), x, p[f"{name}.weight"].transpose(1, 2))
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x


    def q_grad_norms(self, params, x: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """||dQ(s_i, a_i)/dθ|| of every run's every transition, (R, B), without per-sample gradients.

        For a Linear/ReLU MLP the gradient of one output with respect to a layer's weight is the outer
        product of the layer's input h and the backpropagated signal δ, so its squared norm is
        ||δ||² ||h||², plus ||δ||² for the bias: one forward pass that keeps each layer's input, and one
        backward sweep of R×B vectors (Goodfellow 2015's per-example norms)."""
        p = self.views(params) if isinstance(params, torch.Tensor) else params
        inputs, pre = [], []
        for i, name in enumerate(self.layers):
            inputs.append(x)
            z = torch.baddbmm(p[f"{name}.bias"].unsqueeze(1), x, p[f"{name}.weight"].transpose(1, 2))
            pre.append(z)
            x = torch.relu(z) if i < len(self.layers) - 1 else z
        last = p[f"{self.layers[-1]}.weight"]                                  # (R, A, H)
        delta = torch.gather(last, 1, actions.unsqueeze(-1).expand(-1, -1, last.shape[-1]))   # (R, B, H): δ of Q(s, a)
        sq = inputs[-1].pow(2).sum(-1) + 1.0                                    # the last layer's row a and bias a
        for i in range(len(self.layers) - 2, -1, -1):
            delta = delta * (pre[i] > 0)
            sq = sq + delta.pow(2).sum(-1) * (inputs[i].pow(2).sum(-1) + 1.0)
            if i:
                delta = torch.bmm(delta, p[f"{self.layers[i]}.weight"])
        return sq.sqrt()


def clip_per_run(grad: torch.Tensor, max_norm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``clip_grad_norm_`` applied to each run on its own: row ``r`` of ``grad`` (all of run r's
    parameters) is rescaled to ``max_norm[r]`` when longer (``inf`` = no clipping), in place.
    Returns the pre-clip norms (R,) and which runs were clipped."""
    norms = torch.linalg.vector_norm(grad, dim=1)
    coef = torch.clamp(max_norm / (norms + 1e-6), max=1.0)          # the formula of clip_grad_norm_
    grad.mul_(coef.unsqueeze(1))
    return norms, norms > max_norm


class StackedOptimizer:
    """Adam (``torch.optim.Adam``'s update, default betas and eps) or plain SGD, chosen per run, with a
    learning rate per run, on a flat (R, P) tensor. Runs advance together, so Adam's step count is shared."""

    def __init__(self, flat: torch.Tensor, lr: torch.Tensor, adam: torch.Tensor, betas=(0.9, 0.999), eps=1e-8):
        self.flat, self.lr, self.adam = flat, lr, adam
        self.beta1, self.beta2, self.eps = betas[0], betas[1], eps
        self.exp_avg, self.exp_avg_sq = torch.zeros_like(flat), torch.zeros_like(flat)
        self._buffer = torch.empty_like(flat)
        self.all_adam, self.any_adam = bool(adam.all()), bool(adam.any())
        self.steps = 0

    @torch.no_grad()
    def step(self, grad: torch.Tensor) -> torch.Tensor:
        """One update of every run; returns each run's step length ||Δθ|| (R,)."""
        self.steps += 1
        lr = self.lr.unsqueeze(1)
        if not self.any_adam:
            delta = grad.mul(lr)
        else:
            bc1 = 1 - self.beta1 ** self.steps
            bc2_sqrt = math.sqrt(1 - self.beta2 ** self.steps)
            self.exp_avg.lerp_(grad, 1 - self.beta1)
            self.exp_avg_sq.mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
            # torch.optim.Adam's update, written in place: exp_avg / (sqrt(v) / bc2 + eps) * lr / bc1
            delta = torch.sqrt(self.exp_avg_sq, out=self._buffer).div_(bc2_sqrt).add_(self.eps)
            torch.div(self.exp_avg, delta, out=delta).mul_(lr / bc1)
            if not self.all_adam:
                delta = torch.where(self.adam.unsqueeze(1), delta, grad * lr)
        self.flat.sub_(delta)
        return torch.linalg.vector_norm(delta, dim=1)
