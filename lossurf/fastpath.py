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

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, vmap
from torch.nn.utils import parametrize

from .grid import combine, grid_points
from .objectives import Objective, Supervised, eval_mode
from .progress import progress

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


def _evaluate_mlp(objective, x, center, directions, coefs, split, point_tile, row_tile, desc):
    """The same computation for an MLP, hand-batched in a class-major layout.

    Activations are kept as (points, features, rows), one sub-tile of rows at a time, in buffers
    allocated once. On a plane, points that share their first coordinate share ``centre + a * d1``
    (computed once, then ``+ b * d2`` per point: the same arithmetic, in the same order, as for a
    lone point). The outputs of all rows are kept, and the softmax over the classes runs once per
    tile of points over a short strided axis with the rows contiguous, several times faster on a CPU
    than ``log_softmax`` over a last axis of 10. A point's numbers depend on that point only, not on
    which points share its tile, so shards of a grid merge into the whole bit for bit.
    """
    prefix, i, first, rest = split
    n = len(x)
    children = list(rest.named_children())
    linears = [k for k, (_, mod) in enumerate(children) if type(mod) is nn.Linear]
    widths = [first.out_features] + [children[k][1].out_features for k in linears]
    classes = widths[-1]
    # the last Linear's bias is added to all rows at once when only no-op modules follow it
    last = linears[-1] if linears else None
    deferred_bias = (last is not None and children[last][1].bias is not None
                     and all(type(mod) in (nn.Identity, nn.Dropout) for _, mod in children[last + 1:]))
    size = first.weight.element_size()
    # points per step: as many as the outputs of all rows allow (at least 2, see below)
    point_tile = point_tile or max(2, min(MLP_POINT_TILE, LOGIT_BYTES // (size * classes * n)))
    r = row_tile or max(16, min(ROW_TILE, ACTIVATION_BYTES // (size * point_tile * max(widths))))
    s_tiles = -(-n // r)
    n_pad = s_tiles * r
    # (sub-tiles, 1 + k, features, r): W x^T (+ b) for the centre and each direction
    basis = F.pad(first_layer_basis(split, x, center, directions).transpose(1, 2), (0, n_pad - n))
    tiles = basis.reshape(len(basis), first.out_features, s_tiles, r).permute(2, 0, 1, 3).contiguous()
    del basis
    dev, dtype = tiles.device, tiles.dtype
    valid = (torch.arange(n_pad, device=dev) < n).reshape(s_tiles, 1, r)
    y = objective.y
    ce = objective.criterion == "cross_entropy"
    if ce:
        yt = F.pad(y, (0, n_pad - n)).reshape(s_tiles, 1, 1, r)
        # 0 for the classes before each row's true class, else -inf (argmax's tie rule, below)
        earlier = torch.where(torch.arange(classes, device=dev).reshape(1, 1, classes, 1) < yt,
                              0.0, -torch.inf).to(dtype)
    else:
        per = y[0].numel()
        yt = F.pad(y.reshape(n, per).T, (0, n_pad - n)).reshape(per, s_tiles, r).permute(1, 0, 2)
        yt = yt.unsqueeze(1).to(dtype).contiguous()                   # (sub-tiles, 1, per, r)
    names = [name for name, _ in rest.named_parameters()]
    rest_center = {name: center[name] for name in names}
    rest_dirs = [{name: d[name] for name in names} for d in directions]
    coefs = coefs.to(tiles)
    # preallocated activations per layer and the logits of every row, for the largest tile of points
    p_max = max(2, min(point_tile, len(coefs)))
    z_buf = torch.empty(p_max, first.out_features, r, dtype=dtype, device=dev)
    a_buf = torch.empty(first.out_features, r, dtype=dtype, device=dev)
    hidden_bufs = {k: torch.empty(p_max, children[k][1].out_features, r, dtype=dtype, device=dev)
                   for k in linears if k != last}
    logits_buf = torch.empty(s_tiles, p_max, classes, r, dtype=dtype, device=dev)
    scratch = torch.empty_like(logits_buf) if ce else None
    loss_out, acc_out = [], []
    sub_tiles = [(t[0], list(t[1:])) for t in tiles]
    for cf, kept in point_tiles(coefs, point_tile, desc):
        m = len(cf)
        runs = _runs_of_first_coefficient(cf) if cf.shape[1] == 2 else None
        p = grid_points(rest_center, rest_dirs, cf)
        logits = logits_buf[:, :m]
        outs = list(logits)
        layers = []
        for k, (name, mod) in enumerate(children):
            bias = p.get(f"{name}.bias")
            if k == last and deferred_bias:
                bias = None
            layers.append((type(mod), p.get(f"{name}.weight"), None if bias is None else bias.unsqueeze(-1),
                           k == last, hidden_bufs[k][:m] if k in hidden_bufs else None, mod))
        z_out = z_buf[:m]
        for s, (t0, terms) in enumerate(sub_tiles):
            z = _first_layer(t0, terms, cf, runs, z_out, a_buf)
            for kind, w, b, is_last, buf, mod in layers:
                if kind is nn.Linear:
                    dest = outs[s] if is_last else buf
                    z = torch.bmm(w, z, out=dest) if b is None else torch.baddbmm(b, w, z, out=dest)
                elif kind is nn.ReLU:
                    z = z.relu_()
                elif kind not in (nn.Identity, nn.Dropout):
                    z = mod(z)
            if z is not outs[s]:
                outs[s].copy_(z)
        if deferred_bias:
            logits.add_(p[f"{children[last][0]}.bias"].reshape(1, m, classes, 1))
        if ce:
            top = logits.amax(dim=2)                                      # (sub-tiles, m, r)
            true = logits.gather(2, yt.expand(s_tiles, m, 1, r)).squeeze(2)
            # argmax's tie rule (first maximal class), without argmax's slow strided kernel:
            # right when the true class reaches the top and every class before it stays below
            before = torch.add(logits, earlier, out=scratch[:, :m]).amax(dim=2)
            correct = (true >= top) & (before < true) & valid
            # exp(z - top) below e^-80 adds nothing a float32 sum holding 1 can see, but an exp whose
            # result would be subnormal or zero runs 10-40x slower on a CPU: clamp first. exp(x) as
            # exp2(x log2 e), the faster kernel (to float rounding).
            shifted = logits.sub_(top.unsqueeze(2)).clamp_min_(EXP_FLOOR).mul_(LOG2_E)
            lse = shifted.exp2_().sum(dim=2).log_().add_(top)
            row_loss = lse.sub_(true).masked_fill_(~valid, 0.0)
            acc_out.append(correct.sum(dim=(0, 2)).double().cpu()[:kept] / n)
        else:
            row_loss = logits.sub_(yt).pow_(2).sum(dim=2).masked_fill_(~valid, 0.0)
        loss_out.append(_per_point_sum(row_loss, m)[:kept] / (n * (1 if ce else per)))
    out = {"loss": torch.cat(loss_out).numpy()}
    if ce:
        out["accuracy"] = torch.cat(acc_out).numpy()
    return out


def _runs_of_first_coefficient(cf: torch.Tensor) -> list[tuple[int, int]]:
    """``[start, stop)`` runs of consecutive points with the same first coefficient (a plane's rows)."""
    a = cf[:, 0].tolist()                                              # one small copy per tile
    runs, g = [], 0
    for h in range(1, len(a) + 1):
        if h == len(a) or a[h] != a[g]:
            runs.append((g, h))
            g = h
    return runs


def _first_layer(t0: torch.Tensor, terms: list[torch.Tensor], cf: torch.Tensor, runs, out: torch.Tensor,
                 a_buf: torch.Tensor) -> torch.Tensor:
    """First-layer outputs ``t0 + sum_j cf[:, j] * terms[j]`` of a sub-tile, into ``out``.

    With ``runs`` of equal first coefficients ``a`` (two directions), ``t0 + a * terms[0]`` is computed
    once per run; a lone point takes the same two steps, so its numbers do not depend on its run.
    """
    if runs is None:
        return combine(t0, terms, cf, out=out)
    for g, h in runs:
        base = torch.addcmul(t0, cf[g, 0], terms[0], out=a_buf)
        torch.addcmul(base, cf[g:h, 1].reshape(-1, 1, 1), terms[1], out=out[g:h])
    return out


def _per_point_sum(values: torch.Tensor, m: int) -> torch.Tensor:
    """Float64 sums over all rows of (sub-tiles, m, r) values, one per point, on the CPU.

    Each point's rows are laid out contiguously and summed on their own (numpy's pairwise sum of
    one row), so a point's sum does not depend on how many points share its tile.
    """
    rows = values.transpose(0, 1).reshape(m, -1).to(torch.float64).cpu().numpy()
    return torch.from_numpy(np.add.reduce(rows, axis=1))
