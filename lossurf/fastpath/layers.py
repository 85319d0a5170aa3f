"""Which models the fast path takes, and the first layer that makes it fast: split off, checked for exactness, run once per direction."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import parametrize

from ..model_state import eval_mode
from ..objectives import Objective, Supervised
from ..progress import progress

POINT_TILE = 16


MLP_POINT_TILE = 32             # points per step of the MLP kernel: fewer, larger operations


ROW_TILE = 512


LOGIT_BYTES = 64 * 2**20        # the MLP kernel keeps the outputs of every row for a tile of points


LOG2_E = 1.4426950408889634     # exp(x) = exp2(x log2 e): the faster kernel on a CPU


EXP_FLOOR = -80.0               # exp(-80) = 1.8e-35: still a normal float32


ACTIVATION_BYTES = 8 * 2**20    # MLP activations of one tile of points and one sub-tile of rows


CONV_ROW_TILE = 256


ROW_BYTES = 64 * 2**20          # first-layer activations of one point per tile, per-point path


# parameter-free modules allowed before the first layer
PREFIX = (nn.Flatten, nn.Identity, nn.Dropout)


# elementwise modules an MLP tail may hold between its Linear layers (the hand-batched MLP kernel)
ELEMENTWISE = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, nn.GELU, nn.ELU, nn.SiLU, nn.Identity,
               nn.Dropout)


# modules whose output for one example depends on that example only (in eval mode), by exact type
PER_EXAMPLE = ELEMENTWISE + (nn.Linear, nn.Conv1d, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm,
                             nn.GroupNorm, nn.Flatten, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d,
                             nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Softmax, nn.LogSoftmax,
                             nn.Softplus, nn.Hardtanh, nn.ReLU6, nn.Mish, nn.Hardswish, nn.Sequential)


def split_first_layer(model: nn.Module):
    """``(prefix modules, index, first layer, rest)`` for an exact ``nn.Sequential`` starting with
    parameter-free modules (Flatten, ...) then an exact Linear/Conv2d; ``None`` otherwise."""
    if type(model) is not nn.Sequential:
        return None
    prefix = []
    for i, m in enumerate(model):
        if type(m) in (nn.Linear, nn.Conv2d):
            return prefix, i, m, model[i + 1:]
        if type(m) not in PREFIX or (type(m) is nn.Flatten and m.start_dim == 0):
            return None
        prefix.append(m)
    return None


def exactness_problem(objective: Objective) -> str | None:
    """Why the fast path would not be exact for this objective, or ``None`` when it is."""
    if type(objective) is not Supervised:
        return "the objective is not a plain Supervised"
    model = objective.model
    split = split_first_layer(model)
    if split is None:
        return ("the model is not an exact nn.Sequential of parameter-free modules then an exact "
                "nn.Linear/nn.Conv2d")
    if len(list(model.named_parameters(remove_duplicate=False))) != len(dict(model.named_parameters())):
        return "the model shares (ties) parameters or modules"
    from torch.nn.modules import module as _module
    if _module._global_forward_hooks or _module._global_forward_pre_hooks:
        return "global forward hooks are registered"
    for name, m in model.named_modules():
        if parametrize.is_parametrized(m):
            return f"module {name!r} is parametrized"
        if m._forward_hooks or m._forward_pre_hooks:
            return f"module {name!r} has forward hooks (e.g. the old weight_norm/spectral_norm API)"
    prefix, _, first, rest = split
    for name, m in rest.named_modules():
        if type(m) not in PER_EXAMPLE or (type(m) is nn.Flatten and m.start_dim == 0):
            return f"module {name!r} ({type(m).__name__}) is not a known per-example layer"
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is None:
            return f"module {name!r} normalises with batch statistics (mixes examples)"
        if type(m) in (nn.Softmax, nn.LogSoftmax) and m.dim in (None, 0):
            return f"module {name!r} takes the softmax over an implicit or the batch dimension"
    if any(k not in objective.buffers or objective.buffers[k].data_ptr() != v.data_ptr()
           for k, v in model.named_buffers()):
        return "the objective's buffers are not the model's"
    x, y = objective.x, objective.y
    with torch.no_grad(), eval_mode(model):
        out = objective.run({k: v.detach() for k, v in model.named_parameters()}, x[:2])
    if objective.criterion == "cross_entropy":
        if y.dim() != 1 or y.dtype not in (torch.int64, torch.int32) or out.dim() != 2:
            return "cross-entropy needs (N, classes) outputs and (N,) integer targets for the fast path"
    elif tuple(out.shape[1:]) != tuple(y.shape[1:]):
        return f"output shape {tuple(out.shape[1:])} per example differs from the targets' {tuple(y.shape[1:])}"
    return None


def applies(objective: Objective) -> bool:
    """True when the fast path is exact for this objective (see ``exactness_problem``)."""
    return exactness_problem(objective) is None


def is_mlp_tail(rest: nn.Module) -> bool:
    """True when the rest of the network is exact Linear layers and elementwise activations only."""
    return all(type(m) in (nn.Linear,) + ELEMENTWISE for m in rest)


def _layer(first: nn.Module, x, w, b):
    return F.linear(x, w, b) if type(first) is nn.Linear else first._conv_forward(x, w, b)


def first_layer_basis(split, x: torch.Tensor, center, directions) -> torch.Tensor:
    """The first layer's outputs on ``x`` for the centre's weights and for each direction's, stacked:
    (1 + k, N, ...). Every grid point's first-layer output is a combination of these."""
    _, i, first, _ = split
    wname, bname = f"{i}.weight", f"{i}.bias"
    has_bias = first.bias is not None
    return torch.stack([_layer(first, x, p[wname], p[bname] if has_bias else None) for p in [center, *directions]])


def point_tiles(coefs: torch.Tensor, point_tile: int, desc: str | None = None):
    """Tiles of grid points for a computation batched over points: ``(coefs of the tile, how many of
    them are real)``. A lone point is repeated: a batched product over one item takes another kernel,
    whose last bits differ, and a point's numbers must not depend on the points sharing its tile (so
    shards of a grid merge into the whole bit for bit)."""
    for start in progress(range(0, len(coefs), point_tile), desc=desc or "surface (fast)"):
        cf = coefs[start:start + point_tile]
        yield (cf.repeat(2, 1) if len(cf) == 1 else cf), len(cf)
