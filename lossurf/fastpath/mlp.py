"""The MLP kernel: for Linear/activation tails, whole tiles of points run as batched matrix products, with the loss reduced per point."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..grid import combine, grid_points
from .layers import (
    ACTIVATION_BYTES,
    EXP_FLOOR,
    LOG2_E,
    LOGIT_BYTES,
    MLP_POINT_TILE,
    ROW_TILE,
    first_layer_basis,
    point_tiles,
)


class _Layout(NamedTuple):
    """The data of one MLP evaluation, laid out class-major in sub-tiles of ``r`` rows."""
    tiles: list            # per sub-tile: (W x^T (+ b) of the centre, [the same for each direction])
    s_tiles: int
    r: int
    n: int
    valid: torch.Tensor    # (sub-tiles, 1, r): real rows, not padding
    yt: torch.Tensor       # targets: (sub-tiles, 1, 1, r) class indices, or (sub-tiles, 1, per, r) values
    earlier: torch.Tensor | None   # cross-entropy: 0 for the classes before each row's true class, else -inf


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
    ce = objective.criterion == "cross_entropy"
    lay = _layout(objective, split, x, center, directions, r, classes, ce)
    dev, dtype = lay.valid.device, lay.tiles[0][0].dtype
    names = [name for name, _ in rest.named_parameters()]
    rest_center = {name: center[name] for name in names}
    rest_dirs = [{name: d[name] for name in names} for d in directions]
    coefs = coefs.to(lay.tiles[0][0])
    # preallocated activations per layer and the logits of every row, for the largest tile of points
    p_max = max(2, min(point_tile, len(coefs)))
    bufs = (torch.empty(p_max, first.out_features, r, dtype=dtype, device=dev),
            torch.empty(first.out_features, r, dtype=dtype, device=dev),
            {k: torch.empty(p_max, children[k][1].out_features, r, dtype=dtype, device=dev)
             for k in linears if k != last})
    logits_buf = torch.empty(lay.s_tiles, p_max, classes, r, dtype=dtype, device=dev)
    scratch = torch.empty_like(logits_buf) if ce else None
    per = 1 if ce else objective.y[0].numel()
    loss_out, acc_out = [], []
    for cf, kept in point_tiles(coefs, point_tile, desc):
        m = len(cf)
        p = grid_points(rest_center, rest_dirs, cf)
        logits = _logits(lay, children, last, deferred_bias, p, cf, logits_buf[:, :m], bufs)
        if deferred_bias:
            logits.add_(p[f"{children[last][0]}.bias"].reshape(1, m, classes, 1))
        if ce:
            row_loss, correct = _cross_entropy(logits, lay, scratch[:, :m])
            acc_out.append(correct.sum(dim=(0, 2)).double().cpu()[:kept] / n)
        else:
            row_loss = logits.sub_(lay.yt).pow_(2).sum(dim=2).masked_fill_(~lay.valid, 0.0)
        loss_out.append(_per_point_sum(row_loss, m)[:kept] / (n * per))
    out = {"loss": torch.cat(loss_out).numpy()}
    if ce:
        out["accuracy"] = torch.cat(acc_out).numpy()
    return out


def _layout(objective, split, x, center, directions, r, classes, ce) -> _Layout:
    """The first layer's basis and the targets, padded to whole sub-tiles of ``r`` rows."""
    first = split[2]
    n = len(x)
    s_tiles = -(-n // r)
    n_pad = s_tiles * r
    # (sub-tiles, 1 + k, features, r): W x^T (+ b) for the centre and each direction
    basis = F.pad(first_layer_basis(split, x, center, directions).transpose(1, 2), (0, n_pad - n))
    tiles = basis.reshape(len(basis), first.out_features, s_tiles, r).permute(2, 0, 1, 3).contiguous()
    del basis
    dev, dtype = tiles.device, tiles.dtype
    valid = (torch.arange(n_pad, device=dev) < n).reshape(s_tiles, 1, r)
    y = objective.y
    earlier = None
    if ce:
        yt = F.pad(y, (0, n_pad - n)).reshape(s_tiles, 1, 1, r)
        # 0 for the classes before each row's true class, else -inf (argmax's tie rule, below)
        earlier = torch.where(torch.arange(classes, device=dev).reshape(1, 1, classes, 1) < yt,
                              0.0, -torch.inf).to(dtype)
    else:
        per = y[0].numel()
        yt = F.pad(y.reshape(n, per).T, (0, n_pad - n)).reshape(per, s_tiles, r).permute(1, 0, 2)
        yt = yt.unsqueeze(1).to(dtype).contiguous()                   # (sub-tiles, 1, per, r)
    return _Layout([(t[0], list(t[1:])) for t in tiles], s_tiles, r, n, valid, yt, earlier)


def _logits(lay: _Layout, children, last, deferred_bias, p, cf, logits, bufs):
    """The network's outputs for one tile of points ``cf``, every row, written into ``logits``."""
    z_buf, a_buf, hidden_bufs = bufs
    m = len(cf)
    runs = _runs_of_first_coefficient(cf) if cf.shape[1] == 2 else None
    outs = list(logits)
    layers = []
    for k, (name, mod) in enumerate(children):
        bias = p.get(f"{name}.bias")
        if k == last and deferred_bias:
            bias = None
        layers.append((type(mod), p.get(f"{name}.weight"), None if bias is None else bias.unsqueeze(-1),
                       k == last, hidden_bufs[k][:m] if k in hidden_bufs else None, mod))
    z_out = z_buf[:m]
    for s, (t0, terms) in enumerate(lay.tiles):
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
    return logits


def _cross_entropy(logits, lay: _Layout, scratch):
    """Per-row cross-entropy (sub-tiles, points, rows; padding 0) and whether argmax is the true class.
    Overwrites ``logits``."""
    s_tiles, m, _, r = logits.shape
    top = logits.amax(dim=2)                                          # (sub-tiles, m, r)
    true = logits.gather(2, lay.yt.expand(s_tiles, m, 1, r)).squeeze(2)
    # argmax's tie rule (first maximal class), without argmax's slow strided kernel:
    # right when the true class reaches the top and every class before it stays below
    before = torch.add(logits, lay.earlier, out=scratch).amax(dim=2)
    correct = (true >= top) & (before < true) & lay.valid
    # exp(z - top) below e^-80 adds nothing a float32 sum holding 1 can see, but an exp whose
    # result would be subnormal or zero runs 10-40x slower on a CPU: clamp first. exp(x) as
    # exp2(x log2 e), the faster kernel (to float rounding).
    shifted = logits.sub_(top.unsqueeze(2)).clamp_min_(EXP_FLOOR).mul_(LOG2_E)
    lse = shifted.exp2_().sum(dim=2).log_().add_(top)
    return lse.sub_(true).masked_fill_(~lay.valid, 0.0), correct


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
