"""The general tail: after the shared first layer, the rest of the network runs once per point (vmapped over points where possible)."""
from __future__ import annotations

import torch
import torch.nn as nn
from torch.func import functional_call, vmap

from ..grid import combine, grid_points
from ..progress import progress
from .layers import CONV_ROW_TILE, ROW_BYTES, first_layer_basis, point_tiles


def _evaluate_per_point(objective, x, center, directions, coefs, split, point_tile, row_tile, desc):
    """The rest of the network as one plain batched forward per point (no vmap: on a CPU, batched
    convolutions under vmap are slower than a loop). Conv2d outputs are kept channels-last, which
    oneDNN convolutions and pooling run fastest, and an eval-mode ``BatchNorm2d`` right after the
    first layer is folded into the combination: ``BN(sum c_j B_j) = sum (c_j s) B_j + t`` per channel.
    """
    prefix, i, first, rest = split
    conv = type(first) is nn.Conv2d
    basis = first_layer_basis(split, x, center, directions)
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


def _evaluate_vmap(objective, x, center, directions, coefs, split, point_tile, row_tile, desc):
    """The tail vmapped over a tile of points, on ``row_tile`` examples at a time (the default off a CPU)."""
    prefix, i, first, rest = split
    basis = first_layer_basis(split, x, center, directions)
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
    for cf, kept in point_tiles(coefs, point_tile, desc):
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
            sums.setdefault(key, []).append((v[:kept] / denom).cpu())
    return {k: torch.cat(v).numpy() for k, v in sums.items()}
