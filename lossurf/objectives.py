"""What a surface measures: a function of a full set of parameters, evaluated without touching the model.

An objective is called as ``objective(params) -> {metric: scalar tensor}`` with ``params`` a
``{name: tensor}`` dict of the model's parameters; it runs the model through
``torch.func.functional_call(..., strict=True)`` so ``vmap`` can evaluate many parameter sets at once.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call
from torch.utils._pytree import tree_flatten

from .model_state import eval_mode

CRITERIA = ("cross_entropy", "mse")


class Objective:
    """Base class: wraps a model (its structure and buffers); subclasses say what to compute."""

    metrics: tuple[str, ...] = ("loss",)

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.buffers = {k: v.detach() for k, v in model.named_buffers()}

    def run(self, params, *args):
        """The model's forward pass in eval mode with ``params`` in place of its own (buffers unchanged:
        in train mode BatchNorm would update them in place)."""
        with eval_mode(self.model):
            return functional_call(self.model, {**params, **self.buffers}, args, strict=True)

    def __call__(self, params) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def bytes_per_point(self) -> int:
        """Rough memory one evaluation point needs, to size chunks; subclasses may refine it."""
        return 4 * sum(p.numel() for p in self.model.parameters()) * 3


class FunctionObjective(Objective):
    """Any ``fn(objective, params) -> {metric: scalar}`` as an objective (e.g. an RL TD loss)."""

    def __init__(self, model, fn, metrics=("loss",), bytes_per_point: int | None = None):
        super().__init__(model)
        self.fn, self.metrics, self._bpp = fn, tuple(metrics), bytes_per_point

    def __call__(self, params):
        out = self.fn(self, params)
        return out if isinstance(out, dict) else {"loss": out}

    def bytes_per_point(self) -> int:
        return self._bpp or super().bytes_per_point()


def nan_where_diverged(loss, accuracy):
    """The accuracy where the loss is finite and NaN where it diverged, so every path reports a diverged
    point the same way (torch tensors or numpy arrays)."""
    if isinstance(loss, torch.Tensor):
        return torch.where(torch.isfinite(loss), accuracy, torch.full_like(accuracy, float("nan")))
    return np.where(np.isfinite(loss), accuracy, np.nan)


class Supervised(Objective):
    """Mean loss (and accuracy, for classification) of a model on a fixed dataset ``(x, y)``."""

    def __init__(self, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
                 criterion: str = "cross_entropy"):
        if criterion not in CRITERIA:
            raise ValueError(f"unknown criterion {criterion!r}; choose one of {', '.join(CRITERIA)}")
        if len(x) != len(y):
            raise ValueError(f"x and y must have the same number of examples, got {len(x)} and {len(y)}")
        if len(x) == 0:
            raise ValueError("x and y hold no examples: a loss needs at least one; pass a non-empty dataset")
        super().__init__(model)
        self.x, self.y, self.criterion = x, y, criterion
        self.metrics = ("loss", "accuracy") if criterion == "cross_entropy" else ("loss",)

    def scores(self, out: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> dict[str, torch.Tensor]:
        """Loss (and accuracy, ties resolved by ``argmax``: first maximal class) from model outputs;
        ``reduction='sum'`` gives per-batch sums to add up. With ``mean``, accuracy is NaN where the
        loss diverged (non-finite), so every path reports diverged points the same way."""
        if self.criterion == "cross_entropy":
            loss = F.cross_entropy(out, y, reduction=reduction)
            correct = (out.argmax(-1) == y).to(out.dtype)
            acc = {"mean": correct.mean, "sum": correct.sum}.get(reduction, lambda: correct)()
            if reduction == "mean":
                acc = nan_where_diverged(loss, acc)
            return {"loss": loss, "accuracy": acc}
        return {"loss": F.mse_loss(out, y, reduction=reduction)}

    def __call__(self, params):
        return self.scores(self.run(params, self.x), self.y)

    @torch.no_grad()
    def of_model(self, model: torch.nn.Module) -> dict[str, float]:
        """The same numbers computed the ordinary way, from a model's own weights (the loop reference)."""
        with eval_mode(model):
            out = self.scores(model(self.x), self.y)
        return {k: float(v) for k, v in out.items()}

    def bytes_per_point(self) -> int:
        """Parameters plus every module's output for the whole dataset, measured with one forward pass."""
        sizes = []

        def hook(module, inputs, output):
            sizes.append(sum(t.numel() for t in tree_flatten(output)[0] if isinstance(t, torch.Tensor)))

        hooks = [m.register_forward_hook(hook) for m in self.model.modules() if not list(m.children())]
        try:
            with torch.no_grad(), eval_mode(self.model):       # eval: BatchNorm buffers stay as they are
                self.run({k: v.detach() for k, v in self.model.named_parameters()}, self.x[:8])
        finally:
            for h in hooks:
                h.remove()
        per_example = sum(sizes) / min(8, len(self.x))
        n_params = sum(p.numel() for p in self.model.parameters())
        return int(4 * (2 * n_params + 2 * per_example * len(self.x)))
