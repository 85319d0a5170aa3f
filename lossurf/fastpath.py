"""Exact fast path for models whose first layer is ``nn.Linear`` or ``nn.Conv2d``.

That layer is linear in its weights: ``X (W + a U + b V)^T = X W^T + a X U^T + b X V^T``. So the
first layer runs three times for the whole grid instead of once per point, and only the rest of the
network runs per point, in tiles of (points x rows) small enough to stay in cache. Results equal the
plain loop to float tolerance (tests/test_surface.py checks it).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, vmap

from .objectives import Objective, Supervised
from .progress import progress

POINT_TILE = 16
ROW_TILE = 512
# elementwise modules an MLP tail may hold between its Linear layers
ELEMENTWISE = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.LeakyReLU, nn.GELU, nn.ELU, nn.SiLU, nn.Identity,
               nn.Dropout)


def split_first_layer(model: nn.Module):
    """``(prefix modules, index, first layer, rest)`` for a Sequential starting with parameter-free
    modules (Flatten, ...) then Linear/Conv2d; ``None`` when the model has another shape."""
    if not isinstance(model, nn.Sequential):
        return None
    prefix = []
    for i, m in enumerate(model):
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            return prefix, i, m, model[i + 1:]
        if any(True for _ in m.parameters()) or any(True for _ in m.buffers()):
            return None
        prefix.append(m)
    return None


def applies(objective: Objective) -> bool:
    return isinstance(objective, Supervised) and split_first_layer(objective.model) is not None


def is_mlp_tail(rest: nn.Module) -> bool:
    """True when the rest of the network is Linear layers and elementwise activations only."""
    return all(isinstance(m, (nn.Linear,) + ELEMENTWISE) for m in rest)


def _layer(first: nn.Module, x, w, b):
    return F.linear(x, w, b) if isinstance(first, nn.Linear) else first._conv_forward(x, w, b)


@torch.no_grad()
def evaluate(objective: Supervised, center, directions, coefs: torch.Tensor,
             point_tile: int = POINT_TILE, row_tile: int = ROW_TILE, desc: str | None = None):
    split = split_first_layer(objective.model)
    if split is None or not isinstance(objective, Supervised):
        raise ValueError("the fast path needs a Supervised objective on an nn.Sequential whose first "
                         "parametrised layer is nn.Linear or nn.Conv2d; use method='vmap' instead")
    prefix, i, first, rest = split
    if isinstance(first, nn.Linear) and is_mlp_tail(rest):
        return _evaluate_mlp(objective, center, directions, coefs, split, point_tile, row_tile, desc)
    wname, bname = f"{i}.weight", f"{i}.bias"
    x = objective.x
    for m in prefix:
        x = m(x)
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
    rest_buffers = {name: b.detach() for name, b in rest.named_buffers()}
    y = objective.y
    per_example = 1 if objective.criterion == "cross_entropy" else int(torch.tensor(y.shape[1:]).prod())

    def run_rest(p, h):
        return functional_call(rest, {**p, **rest_buffers}, (h,), strict=True)

    from .surface import grid_points
    full = torch.cat([torch.ones(len(coefs), 1, device=coefs.device), coefs], dim=1).to(basis)
    sums: dict[str, list] = {}
    for start in progress(range(0, len(coefs), point_tile), desc=desc or "surface (fast)"):
        cf = full[start:start + point_tile]
        m = len(cf)
        rest_params = grid_points(rest_center, rest_dirs, coefs[start:start + point_tile])
        acc: dict[str, torch.Tensor] = {}
        for r0 in range(0, n, row_tile):
            rows = basis[:, r0:r0 + row_tile]
            r = rows.shape[1]
            h = (cf @ rows.reshape(k1, -1)).reshape(m, r, *feat)
            out = vmap(run_rest)(rest_params, h) if rest_names or rest_buffers else rest(h)
            yr = y[r0:r0 + row_tile]
            scores = objective.scores(out.reshape(m * r, *out.shape[2:]),
                                      yr.repeat(m, *([1] * (yr.dim() - 1))), reduction="none")
            for key, v in scores.items():
                v = v.reshape(m, -1).sum(1, dtype=torch.float64)
                acc[key] = acc[key] + v if key in acc else v
        for key, v in acc.items():
            denom = n * (per_example if key == "loss" else 1)
            sums.setdefault(key, []).append((v / denom).cpu())
    return {k: torch.cat(v).numpy() for k, v in sums.items()}


def _evaluate_mlp(objective, center, directions, coefs, split, point_tile, row_tile, desc):
    """The same computation for an MLP, hand-batched in a class-major layout.

    Activations are kept as (points, features, rows): the softmax over 10 classes then reduces
    over a short strided axis with the rows contiguous, which is several times faster on a CPU
    than ``log_softmax`` over a last axis of 10, and every tile reuses preallocated buffers.
    """
    prefix, i, first, rest = split
    x = objective.x
    for m in prefix:
        x = m(x)
    n = len(x)
    wname, bname = f"{i}.weight", f"{i}.bias"
    has_bias = first.bias is not None
    # (1 + k, features, N): W x^T (+ b) for the centre and each direction, cut into row tiles
    basis = [F.linear(x, center[wname], center[bname] if has_bias else None).T]
    basis += [F.linear(x, d[wname], d[bname] if has_bias else None).T for d in directions]
    basis = torch.stack(basis)
    k1, h = basis.shape[0], basis.shape[1]
    tiles = [basis[:, :, r0:r0 + row_tile].contiguous() for r0 in range(0, n, row_tile)]
    y = objective.y
    ce = objective.criterion == "cross_entropy"
    y_tiles = [y[r0:r0 + row_tile] if ce else y[r0:r0 + row_tile].reshape(-1, y[0].numel()).T.contiguous()
               for r0 in range(0, n, row_tile)]
    names = [name for name, _ in rest.named_parameters()]
    rest_center = {name: center[name] for name in names}
    rest_dirs = [{name: d[name] for name in names} for d in directions]
    full = torch.cat([torch.ones(len(coefs), 1, device=coefs.device), coefs], dim=1).to(basis)

    from .surface import grid_points
    loss_out, acc_out = [], []
    for start in progress(range(0, len(coefs), point_tile), desc=desc or "surface (fast)"):
        cf = full[start:start + point_tile]
        m = len(cf)
        p = grid_points(rest_center, rest_dirs, coefs[start:start + point_tile])
        loss_sum = torch.zeros(m, dtype=torch.float64, device=basis.device)
        correct = torch.zeros(m, dtype=torch.float64, device=basis.device)
        for tile, yt in zip(tiles, y_tiles):
            r = tile.shape[2]
            z = (cf @ tile.reshape(k1, -1)).reshape(m, h, r)
            for name, mod in rest.named_children():
                if isinstance(mod, nn.Linear):
                    w = p[f"{name}.weight"]
                    z = (torch.baddbmm(p[f"{name}.bias"].unsqueeze(-1), w, z) if mod.bias is not None
                         else torch.bmm(w, z))
                elif isinstance(mod, nn.ReLU):
                    z = z.relu_()
                elif not isinstance(mod, (nn.Identity, nn.Dropout)):
                    z = mod(z)
            if ce:
                top = z.amax(dim=1)                                       # (m, r)
                lse = (z - top.unsqueeze(1)).exp_().sum(dim=1).log_().add_(top)
                true = z.gather(1, yt.view(1, 1, r).expand(m, 1, r)).squeeze(1)
                loss_sum += (lse - true).sum(dim=1, dtype=torch.float64)
                correct += (true >= top).sum(dim=1, dtype=torch.float64)
            else:
                loss_sum += (z - yt.unsqueeze(0)).pow_(2).sum(dim=(1, 2), dtype=torch.float64)
        per = 1 if ce else y[0].numel()
        loss_out.append((loss_sum / (n * per)).cpu())
        acc_out.append((correct / n).cpu())
    out = {"loss": torch.cat(loss_out).numpy()}
    if ce:
        out["accuracy"] = torch.cat(acc_out).numpy()
    return out
