"""Exact fast path for a plain ``nn.Sequential`` whose first layer is ``nn.Linear`` or ``nn.Conv2d``.

That layer is linear in its weights: ``X (W + a U + b V)^T = X W^T + a X U^T + b X V^T``. So the
first layer runs three times for the whole grid instead of once per point, and only the rest of the
network runs per point. It is taken only where that is exact: every module of a type whose
computation is known (``type(m) is nn.Linear``, not a subclass), no parametrizations or hooks, no
shared parameters, no layer that mixes examples (BatchNorm without running statistics), targets of
the output's shape. ``exactness_problem`` says why a model does not qualify; ``surface.py`` also
checks the fast value at the centre against the generic one. Results equal the plain loop to float
tolerance (tests/test_surface.py).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from ..objectives import Supervised
from .layers import POINT_TILE, applies, exactness_problem, first_layer_basis, is_mlp_tail, split_first_layer
from .mlp import _evaluate_mlp
from .per_point import _evaluate_per_point, _evaluate_vmap

__all__ = ["applies", "evaluate", "exactness_problem", "first_layer_basis", "is_mlp_tail", "split_first_layer"]


@torch.no_grad()
def evaluate(objective: Supervised, center, directions, coefs: torch.Tensor,
             point_tile: int | None = None, row_tile: int | None = None, desc: str | None = None,
             tail: str = "auto"):
    """Metrics at ``center + coefs @ directions`` by first-layer factorisation.

    ``tail``: how the rest of a non-MLP network runs per tile of points: ``vmap`` over the points,
    ``loop`` one point at a time over all rows (a plain batched forward, fastest for CNNs on a CPU),
    or ``auto`` (``loop`` on a CPU, ``vmap`` elsewhere).
    """
    problem = exactness_problem(objective)
    if problem is not None:
        raise ValueError(f"the fast path is not exact for this model ({problem}); use method='auto' "
                         f"or 'vmap'")
    split = split_first_layer(objective.model)
    prefix, i, first, rest = split
    x = objective.x
    for m in prefix:
        x = m(x)
    if type(first) is nn.Linear and is_mlp_tail(rest) and x.dim() == 2:
        return _evaluate_mlp(objective, x, center, directions, coefs, split, point_tile, row_tile, desc)
    point_tile = point_tile or POINT_TILE
    if tail == "auto":
        tail = "loop" if x.device.type == "cpu" else "vmap"
    if tail == "loop":
        return _evaluate_per_point(objective, x, center, directions, coefs, split, point_tile, row_tile, desc)
    return _evaluate_vmap(objective, x, center, directions, coefs, split, point_tile, row_tile, desc)
