"""Directions in parameter space: seeded, filter-normalised Gaussian ones (Li et al. 2018) and PCA
directions of a training trajectory (Li et al. 2018, section 7).

A direction is a dict ``{parameter name: tensor}`` with the same names and shapes as the model's
parameters, so ``theta + a * d1 + b * d2`` is taken name by name.
"""
from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from typing import NamedTuple

import numpy as np
import torch

NORMALIZATIONS = ("filter", "layer", "none")
_EPS = 1e-10

Params = dict[str, torch.Tensor]


def parameters_of(model_or_params) -> Params:
    """The parameters as a plain ``{name: tensor}`` dict (detached; the model is never modified)."""
    if isinstance(model_or_params, torch.nn.Module):
        return {k: v.detach() for k, v in model_or_params.named_parameters()}
    return {k: torch.as_tensor(v).detach() for k, v in model_or_params.items()}


def check_directions(params: Params, directions: list[Params]) -> None:
    """Raise a ValueError naming the first parameter a direction is missing or has the wrong shape for."""
    for i, d in enumerate(directions):
        missing, extra = set(params) - set(d), set(d) - set(params)
        if missing or extra:
            raise ValueError(f"direction {i} does not match the model's parameters: missing "
                             f"{sorted(missing)[:3]}, unexpected {sorted(extra)[:3]}; build directions "
                             f"from the same model (random_directions(model, ...))")
        for name, w in params.items():
            if tuple(d[name].shape) != tuple(w.shape):
                raise ValueError(f"direction {i} has shape {tuple(d[name].shape)} for parameter {name!r}, "
                                 f"but the model's is {tuple(w.shape)}; build directions from this model")


def normalize_direction(direction: Params, params: Params, normalization: str = "filter",
                        ignore_1d: bool = True) -> Params:
    """Rescale a direction to the scale of the weights it perturbs.

    ``filter``: every filter (output row of a Linear, output channel of a Conv) gets the norm of the
    same filter of the weights, so a step of 1 moves every filter by its own size, whatever the
    layer's scale (Li et al. 2018). ``layer``: the same per whole tensor. ``none``: raw.
    1-D parameters (biases, norm layers) are zeroed when ``ignore_1d``; otherwise treated as one filter.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {normalization!r}; choose one of {', '.join(NORMALIZATIONS)}")
    out = {}
    for name, w in params.items():
        d = direction[name].clone()
        if w.dim() <= 1:
            if ignore_1d:
                d.zero_()
            elif normalization != "none":
                d.mul_(w.norm() / (d.norm() + _EPS))
        elif normalization == "filter":
            wn = w.reshape(w.shape[0], -1).norm(dim=1)
            dn = d.reshape(d.shape[0], -1).norm(dim=1)
            d.mul_((wn / (dn + _EPS)).view(-1, *([1] * (w.dim() - 1))))
        elif normalization == "layer":
            d.mul_(w.norm() / (d.norm() + _EPS))
        out[name] = d
    return out


def random_directions(model_or_params, n: int = 2, seed: int = 0, normalization: str = "filter",
                      ignore_1d: bool = True, orthogonal: bool = False) -> list[Params]:
    """``n`` seeded Gaussian directions, drawn once, normalised to the weights.

    The same seed always gives the same directions (drawn on the CPU, then moved to the parameters'
    device). ``orthogonal=True`` removes from each direction its component along the earlier ones
    (Gram-Schmidt) and restores its length; random directions in many dimensions are already
    nearly orthogonal, see ``cosine``.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {normalization!r}; choose one of {', '.join(NORMALIZATIONS)}")
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a whole number of directions >= 1, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ValueError(f"seed must be an integer (it seeds torch.Generator), got {seed!r}; e.g. seed=0")
    params = parameters_of(model_or_params)
    g = torch.Generator().manual_seed(int(seed))
    dirs = []
    for _ in range(n):
        raw = {k: torch.randn(w.shape, generator=g, dtype=torch.float32).to(w) for k, w in params.items()}
        d = normalize_direction(raw, params, normalization, ignore_1d)
        if orthogonal:
            length = flatten(d).norm()
            for prev in dirs:
                coef = dot(d, prev) / dot(prev, prev)
                d = {k: d[k] - coef * prev[k] for k in d}
            d = scale(d, float(length / (flatten(d).norm() + _EPS)))
        dirs.append(d)
    return dirs


def flatten(values: Params | Iterable[torch.Tensor]) -> torch.Tensor:
    """One flat vector of a parameter dict's tensors (in its order) or of an iterable of tensors."""
    values = values.values() if isinstance(values, Mapping) else values
    return torch.cat([v.reshape(-1) for v in values])


def dot(a: Params, b: Params) -> torch.Tensor:
    return sum((a[k].double() * b[k].double()).sum() for k in a)


def scale(d: Params, s: float) -> Params:
    return {k: v * s for k, v in d.items()}


def difference(a: Params, b: Params) -> Params:
    """``a - b``, name by name (e.g. the direction from one set of weights to another)."""
    return {k: a[k] - b[k] for k in a}


def cosine(a: Params, b: Params) -> float:
    """Cosine of the angle between two directions (0 = orthogonal)."""
    return float(dot(a, b) / (dot(a, a).sqrt() * dot(b, b).sqrt() + _EPS))


def pca_directions(checkpoints: list[Params], center: Params, n: int = 2,
                   ignore_1d: bool = False) -> tuple[list[Params], np.ndarray]:
    """Principal directions of a training path and the fraction of variance each explains.

    PCA of the vectors (checkpoint - center) (Li et al. 2018, section 7), usually with the final
    weights as ``center`` so the path ends at the origin. Pass the checkpoints of several runs
    together to get one plane that shows them all. Returns ``n`` orthonormal directions.
    """
    if len(checkpoints) < n + 1:
        raise ValueError(f"need at least {n + 1} checkpoints for {n} PCA directions, got {len(checkpoints)}")
    names = [k for k, w in center.items() if not (ignore_1d and w.dim() <= 1)]
    m = torch.stack([torch.cat([(c[k] - center[k]).reshape(-1).double() for k in names]) for c in checkpoints])
    m = m - m.mean(dim=0, keepdim=True)
    _, s, vh = torch.linalg.svd(m, full_matrices=False)
    var = s ** 2
    ratio = (var / var.sum()).cpu().numpy()
    dirs = []
    for i in range(n):
        v = vh[i]
        # a fixed sign convention, so the same path always gives the same picture
        if v[v.abs().argmax()] < 0:
            v = -v
        d, offset = {}, 0
        for k, w in center.items():
            if k in names:
                d[k] = v[offset:offset + w.numel()].reshape(w.shape).to(w)
                offset += w.numel()
            else:
                d[k] = torch.zeros_like(w)
        dirs.append(d)
    return dirs, ratio[:n]


class Projection(NamedTuple):
    """Where parameter sets sit on a plane: coordinates, and how much of each one the plane cannot show."""
    coords: np.ndarray            # (len(points), len(directions))
    off_plane: np.ndarray         # share of each point's distance from the centre off the plane (0: on it)


def project(center: Params, directions: list[Params], points: list[Params]) -> Projection:
    """Coordinates of parameter sets on the plane ``center + sum_i c_i d_i`` (least squares).

    Returns ``Projection(coords, off_plane)``: coords is (len(points), len(directions)); off_plane is the share
    of each point's distance from the centre that the plane cannot show (0 = lies on the plane).
    Works for non-orthogonal directions too (it solves the normal equations).
    """
    dmat = torch.stack([flatten(d).double() for d in directions])          # (k, n)
    gram = dmat @ dmat.T
    coords, off = [], []
    for p in points:
        v = flatten(difference(p, center)).double()
        c = torch.linalg.solve(gram, dmat @ v)
        resid = v - dmat.T @ c
        coords.append(c.cpu().numpy())
        off.append(float(resid.norm() / (v.norm() + _EPS)))
    return Projection(np.asarray(coords), np.asarray(off))


def plane_through(center: Params, a: Params, b: Params) -> list[Params]:
    """Two orthonormal directions spanning the plane through three parameter sets.

    With ``center`` the common initial weights and ``a``, ``b`` the final weights of two runs, the
    plane holds both runs' start and end points exactly: a fair shared picture of two trainings.
    """
    d1 = difference(a, center)
    d2 = difference(b, center)
    length2 = dot(d2, d2).sqrt()
    n1 = dot(d1, d1).sqrt()
    if n1 == 0:
        raise ValueError("the first point equals the centre: no direction to span a plane")
    d1 = scale(d1, float(1 / n1))
    d2 = {k: d2[k] - float(dot(d2, d1)) * d1[k] for k in d2}
    n2 = dot(d2, d2).sqrt()
    if n2 <= 1e-4 * length2:
        raise ValueError("the three points lie on one line: they span no plane")
    return [d1, scale(d2, float(1 / n2))]
