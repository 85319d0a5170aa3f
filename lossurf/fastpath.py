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
import torch.nn.functional as F
from torch.func import functional_call, vmap
from torch.nn.utils import parametrize

from .grid import combine, grid_points
from .objectives import Objective, Supervised, eval_mode
from .progress import progress

POINT_TILE = 16
ROW_TILE = 512
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


@torch.no_grad()
def evaluate(objective: Supervised, center, directions, coefs: torch.Tensor,
             point_tile: int = POINT_TILE, row_tile: int | None = None, desc: str | None = None,
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
        return _evaluate_mlp(objective, x, center, directions, coefs, split, point_tile,
                             row_tile or ROW_TILE, desc)
    if tail == "auto":
        tail = "loop" if x.device.type == "cpu" else "vmap"
    if tail == "loop":
        return _evaluate_per_point(objective, x, center, directions, coefs, split, point_tile, row_tile, desc)
    wname, bname = f"{i}.weight", f"{i}.bias"
    # first-layer outputs of the centre and of each direction: (1 + k, N, ...)
    has_bias = first.bias is not None
    basis = [_layer(first, x, center[wname], center[bname] if has_bias else None)]
    for d in directions:
        basis.append(_layer(first, x, d[wname], d[bname] if has_bias else None))
    basis = torch.stack(basis)
    k1, n = basis.shape[0], basis.shape[1]
    feat = basis.shape[2:]
    rest_names = [name for name, _ in rest.named_parameters()]
    rest_center = {name: center[name] for name in rest_names}
    rest_dirs = [{name: d[name] for name in rest_names} for d in directions]
    rest_buffers = {name: objective.buffers[name] for name, _ in rest.named_buffers()}   # slice keeps names
    y = objective.y
    per_example = 1 if objective.criterion == "cross_entropy" else max(1, y[0].numel())
    row_tile = row_tile or CONV_ROW_TILE

    def run_rest(p, h):
        return functional_call(rest, {**p, **rest_buffers}, (h,), strict=True)

    coefs = coefs.to(basis)
    flat = basis.reshape(k1, -1)
    width = flat.shape[1] // n
    sums: dict[str, list] = {}
    for start in progress(range(0, len(coefs), point_tile), desc=desc or "surface (fast)"):
        cf = coefs[start:start + point_tile]
        m = len(cf)
        rest_params = grid_points(rest_center, rest_dirs, cf)
        acc: dict[str, torch.Tensor] = {}
        for r0 in range(0, n, row_tile):
            r = min(row_tile, n - r0)
            yr = y[r0:r0 + r]
            rows = flat[:, r0 * width:(r0 + r) * width]
            h = combine(rows[0], list(rows[1:]), cf).reshape(m, r, *feat)
            out = vmap(run_rest)(rest_params, h)
            scores = objective.scores(out.reshape(m * r, *out.shape[2:]),
                                      yr.repeat(m, *([1] * (yr.dim() - 1))), reduction="none")
            for key, v in scores.items():
                v = v.reshape(m, -1).sum(1, dtype=torch.float64)
                acc[key] = acc[key] + v if key in acc else v
        for key, v in acc.items():
            denom = n * (per_example if key == "loss" else 1)
            sums.setdefault(key, []).append((v / denom).cpu())
    return {k: torch.cat(v).numpy() for k, v in sums.items()}


def _evaluate_per_point(objective, x, center, directions, coefs, split, point_tile, row_tile, desc):
    """The rest of the network as one plain batched forward per point (no vmap: on a CPU, batched
    convolutions under vmap are slower than a loop). Conv2d outputs are kept channels-last, which
    oneDNN convolutions and pooling run fastest, and an eval-mode ``BatchNorm2d`` right after the
    first layer is folded into the combination: ``BN(sum c_j B_j) = sum (c_j s) B_j + t`` per channel.
    """
    prefix, i, first, rest = split
    conv = type(first) is nn.Conv2d
    wname, bname = f"{i}.weight", f"{i}.bias"
    has_bias = first.bias is not None
    basis = [_layer(first, x, center[wname], center[bname] if has_bias else None)]
    basis += [_layer(first, x, d[wname], d[bname] if has_bias else None) for d in directions]
    basis = torch.stack(basis)
    if conv:
        basis = basis.permute(0, 1, 3, 4, 2).contiguous()            # (1 + k, N, H, W, C)
    n = basis.shape[1]
    bn = rest[0] if conv and len(rest) and type(rest[0]) is nn.BatchNorm2d else None
    tail = rest[1:] if bn is not None else rest                      # slices keep the model's names
    bn_name = next(iter(rest._modules)) if bn is not None else None
    names = [name for name, _ in rest.named_parameters()]
    rest_center = {name: center[name] for name in names}
    rest_dirs = [{name: d[name] for name in names} for d in directions]
    tail_buffers = {name: objective.buffers[name] for name, _ in tail.named_buffers()}
    y = objective.y
    per_example = 1 if objective.criterion == "cross_entropy" else max(1, y[0].numel())
    width = basis[0, 0].numel()
    row_tile = row_tile or max(1, ROW_BYTES // (4 * width))
    coefs = coefs.to(basis)
    if bn is not None:
        mean = objective.buffers[f"{bn_name}.running_mean"].to(basis)
        inv_std = torch.rsqrt(objective.buffers[f"{bn_name}.running_var"].to(basis) + bn.eps)
    sums: dict[str, list] = {}
    for start in progress(range(0, len(coefs), point_tile), desc=desc or "surface (fast)"):
        cf = coefs[start:start + point_tile]
        params = grid_points(rest_center, rest_dirs, cf)
        for j in range(len(cf)):
            p = {k: v[j] for k, v in params.items()}
            c = torch.cat([torch.ones(1, dtype=cf.dtype, device=cf.device), cf[j]])
            if bn is not None:
                scale = inv_std * p[f"{bn_name}.weight"] if bn.affine else inv_std
                shift = (p[f"{bn_name}.bias"] if bn.affine else 0) - mean * scale
            acc: dict[str, torch.Tensor] = {}
            for r0 in range(0, n, row_tile):
                rows = basis[:, r0:r0 + row_tile]
                if bn is not None:
                    h = torch.addcmul(shift, rows[0], scale * c[0])
                    for b_j, c_j in zip(rows[1:], c[1:]):
                        h.addcmul_(b_j, scale * c_j)
                else:
                    h = combine(rows[0], list(rows[1:]), c[1:].unsqueeze(0))[0]
                if conv:
                    h = h.permute(0, 3, 1, 2)                             # NCHW view, channels-last memory
                out = _run_tail(tail, p, tail_buffers, h)
                for key, v in objective.scores(out, y[r0:r0 + row_tile], reduction="sum").items():
                    acc[key] = acc[key] + v.double() if key in acc else v.double()
            for key, v in acc.items():
                sums.setdefault(key, []).append((v / (n * (per_example if key == "loss" else 1))).reshape(1).cpu())
    return {k: torch.cat(v).numpy() for k, v in sums.items()}


def _run_tail(tail: nn.Sequential, params, buffers, h):
    """``tail(h)`` with a point's parameters, module by module, on a tensor it owns: ReLU in place,
    and ReLU then MaxPool2d as pool then ReLU (exact: both are monotone), on a 4x smaller tensor."""
    items = list(tail._modules.items())
    k = 0
    while k < len(items):
        name, mod = items[k]
        if type(mod) is nn.ReLU:
            if k + 1 < len(items) and type(items[k + 1][1]) is nn.MaxPool2d:
                h = items[k + 1][1](h)
                k += 1
            h = h.relu_()
        else:
            local = {n: params[f"{name}.{n}"] for n, _ in mod.named_parameters()}
            local.update({n: buffers[f"{name}.{n}"] for n, _ in mod.named_buffers()})
            h = functional_call(mod, local, (h,), strict=True) if local else mod(h)
        k += 1
    return h


def _evaluate_mlp(objective, x, center, directions, coefs, split, point_tile, row_tile, desc):
    """The same computation for an MLP, hand-batched in a class-major layout.

    Activations are kept as (points, features, rows): the softmax over 10 classes then reduces
    over a short strided axis with the rows contiguous, which is several times faster on a CPU
    than ``log_softmax`` over a last axis of 10.
    """
    prefix, i, first, rest = split
    n = len(x)
    wname, bname = f"{i}.weight", f"{i}.bias"
    has_bias = first.bias is not None
    # (1 + k, features, N): W x^T (+ b) for the centre and each direction, cut into row tiles
    basis = [F.linear(x, center[wname], center[bname] if has_bias else None).T]
    basis += [F.linear(x, d[wname], d[bname] if has_bias else None).T for d in directions]
    basis = torch.stack(basis)
    tiles = [basis[:, :, r0:r0 + row_tile].contiguous() for r0 in range(0, n, row_tile)]
    y = objective.y
    ce = objective.criterion == "cross_entropy"
    y_tiles = [y[r0:r0 + row_tile] if ce else y[r0:r0 + row_tile].reshape(-1, y[0].numel()).T.contiguous()
               for r0 in range(0, n, row_tile)]
    # per tile, (classes, rows): True for the classes before each row's true class
    classes = ([first] + [m for m in rest if type(m) is nn.Linear])[-1].out_features
    earlier = [torch.where(torch.arange(classes, device=x.device).unsqueeze(1) < yt.unsqueeze(0), 0.0, -torch.inf)
               .to(basis.dtype) for yt in y_tiles] if ce else []          # 0 before the true class, else -inf
    names = [name for name, _ in rest.named_parameters()]
    rest_center = {name: center[name] for name in names}
    rest_dirs = [{name: d[name] for name in names} for d in directions]
    coefs = coefs.to(basis)
    loss_out, acc_out = [], []
    for start in progress(range(0, len(coefs), point_tile), desc=desc or "surface (fast)"):
        cf = coefs[start:start + point_tile]
        m = len(cf)
        p = grid_points(rest_center, rest_dirs, cf)
        loss_sum = torch.zeros(m, dtype=torch.float64, device=basis.device)
        correct = torch.zeros(m, dtype=torch.float64, device=basis.device)
        for t_i, (tile, yt) in enumerate(zip(tiles, y_tiles)):
            r = tile.shape[2]
            z = combine(tile[0], list(tile[1:]), cf)
            for name, mod in rest.named_children():
                if type(mod) is nn.Linear:
                    w = p[f"{name}.weight"]
                    z = (torch.baddbmm(p[f"{name}.bias"].unsqueeze(-1), w, z) if mod.bias is not None
                         else torch.bmm(w, z))
                elif type(mod) is nn.ReLU:
                    z = z.relu_()
                elif type(mod) not in (nn.Identity, nn.Dropout):
                    z = mod(z)
            if ce:
                top = z.amax(dim=1)                                       # (m, r)
                true = z.gather(1, yt.view(1, 1, r).expand(m, 1, r)).squeeze(1)
                # argmax's tie rule (first maximal class), without argmax's slow strided kernel:
                # right when the true class reaches the top and every class before it stays below
                before = torch.add(z, earlier[t_i]).amax(dim=1)
                correct += ((true >= top) & (before < true)).sum(dim=1, dtype=torch.float64)
                lse = z.sub_(top.unsqueeze(1)).exp_().sum(dim=1).log_().add_(top)
                loss_sum += (lse - true).sum(dim=1, dtype=torch.float64)
            else:
                loss_sum += (z - yt.unsqueeze(0)).pow_(2).sum(dim=(1, 2), dtype=torch.float64)
        per = 1 if ce else y[0].numel()
        loss_out.append((loss_sum / (n * per)).cpu())
        acc_out.append((correct / n).cpu())
    out = {"loss": torch.cat(loss_out).numpy()}
    if ce:
        out["accuracy"] = torch.cat(acc_out).numpy()
    return out
