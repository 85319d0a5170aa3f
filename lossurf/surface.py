"""Loss along a line or over a plane in parameter space, many points at a time.

Every point is ``center + a * d1 (+ b * d2)`` with directions drawn once: a 2-D surface is one fixed
plane. Points are evaluated in chunks with ``torch.func.vmap`` over ``functional_call`` (the generic
path), or, for a model whose first layer is ``nn.Linear``/``nn.Conv2d``, with that layer factorised
out of the grid (the fast path, see ``fastpath.py``). The caller's model is never modified.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.func import vmap

from .directions import Params, check_directions, difference, parameters_of, project
from .objectives import Objective, Supervised, eval_mode, load_params
from .progress import progress

METHODS = ("auto", "vmap", "fast", "loop")
DEFAULT_MEMORY = 512 * 2**20


def grid_points(center: Params, directions: list[Params], coefs: torch.Tensor) -> Params:
    """Stacked parameter sets: ``out[name][i] = center[name] + sum_j coefs[i, j] * directions[j][name]``."""
    out = {}
    for name, c in center.items():
        d = torch.stack([dd[name] for dd in directions])                    # (k, *shape)
        delta = (coefs.to(d) @ d.reshape(len(directions), -1)).reshape(len(coefs), *c.shape)
        out[name] = c.unsqueeze(0) + delta
    return out


def stack_params(points: list[Params]) -> Params:
    return {k: torch.stack([p[k] for p in points]) for k in points[0]}


def _chunk_size(objective: Objective, n_points: int, chunk_size: int | None, memory: int) -> int:
    if chunk_size is not None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        return chunk_size
    return int(max(1, min(n_points, 256, memory // max(1, objective.bytes_per_point()))))


@torch.no_grad()
def evaluate_stacked(objective: Objective, stacked: Params) -> dict[str, torch.Tensor]:
    """Evaluate one chunk of stacked parameter sets at once with ``vmap``."""
    return vmap(objective)(stacked)


@torch.no_grad()
def evaluate_points(objective: Objective, center: Params, directions: list[Params], coefs,
                    method: str = "auto", chunk_size: int | None = None, memory: int = DEFAULT_MEMORY,
                    desc: str | None = None) -> dict[str, np.ndarray]:
    """Metrics at ``center + coefs @ directions`` for every row of ``coefs`` (shape (P, k)).

    ``method``: ``vmap`` (generic, chunked), ``fast`` (first-layer factorisation; Supervised
    objectives on a Sequential model starting with Linear/Conv2d), ``loop`` (one model copy per point:
    slow, the reference), or ``auto`` (fast when it applies, else vmap).
    """
    from . import fastpath

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    center = parameters_of(center)
    check_directions(center, directions)
    coefs = torch.as_tensor(np.asarray(coefs, dtype=np.float64), dtype=torch.float32)
    if coefs.dim() != 2 or coefs.shape[1] != len(directions):
        raise ValueError(f"coefs must have shape (points, {len(directions)}), got {tuple(coefs.shape)}")
    device = next(iter(center.values())).device
    coefs = coefs.to(device)
    if method == "auto":
        method = "fast" if fastpath.applies(objective) else "vmap"
    with eval_mode(objective.model):
        if method == "fast":
            return fastpath.evaluate(objective, center, directions, coefs, desc=desc)
        if method == "vmap":
            size = _chunk_size(objective, len(coefs), chunk_size, memory)
            chunks = progress(list(torch.split(coefs, size)), desc=desc or "surface (vmap)")
            return _evaluate_chunks(objective, (grid_points(center, directions, c) for c in chunks))
        results: dict[str, list] = {}
        for chunk in progress([coefs[i:i + 1] for i in range(len(coefs))], desc=desc or "surface (loop)"):
            point = {k: v[0] for k, v in grid_points(center, directions, chunk).items()}
            if isinstance(objective, Supervised):
                out = {k: torch.tensor([v]) for k, v in objective.of_model(load_params(objective.model, point)).items()}
            else:
                out = {k: v.reshape(1) for k, v in objective(point).items()}
            for k, v in out.items():
                results.setdefault(k, []).append(v.detach().double().cpu())
    return {k: torch.cat(v).numpy() for k, v in results.items()}


def _evaluate_chunks(objective: Objective, stacked_chunks) -> dict[str, np.ndarray]:
    """Evaluate an iterable of stacked parameter chunks with vmap and join the results."""
    parts: dict[str, list] = {}
    for stacked in stacked_chunks:
        for k, v in evaluate_stacked(objective, stacked).items():
            parts.setdefault(k, []).append(v.detach().double().cpu())
    return {k: torch.cat(v).numpy() for k, v in parts.items()}


@dataclass
class SurfaceResult:
    """A 1-D line or 2-D plane of metric values with everything needed to redraw it exactly.

    ``values[m]`` has shape ``(len(alphas),)`` or ``(len(alphas), len(betas))`` with
    ``values[m][i, j]`` at ``center + alphas[i] * d1 + betas[j] * d2``. Non-finite values (diverged
    points) are kept as they are.
    """
    axes: list[np.ndarray]
    values: dict[str, np.ndarray]
    directions: list[dict[str, np.ndarray]] = field(default_factory=list)
    center: dict[str, np.ndarray] = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)

    @property
    def ndim(self) -> int:
        return len(self.axes)

    @property
    def alphas(self) -> np.ndarray:
        return self.axes[0]

    @property
    def betas(self) -> np.ndarray:
        return self.axes[1]

    def n_nonfinite(self, metric: str = "loss") -> int:
        """How many points diverged (NaN or Inf)."""
        return int((~np.isfinite(self.values[metric])).sum())

    def at_center(self, metric: str = "loss") -> float:
        """The value at the grid point closest to (0, 0)."""
        idx = tuple(int(np.abs(ax).argmin()) for ax in self.axes)
        return float(self.values[metric][idx])

    def save(self, path) -> None:
        arrays = {f"axis{i}": a for i, a in enumerate(self.axes)}
        arrays.update({f"value/{k}": v for k, v in self.values.items()})
        for i, d in enumerate(self.directions):
            arrays.update({f"dir{i}/{k}": v for k, v in d.items()})
        arrays.update({f"center/{k}": v for k, v in self.center.items()})
        arrays["metadata"] = np.array(json.dumps(self.metadata))
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path) -> "SurfaceResult":
        with np.load(path, allow_pickle=False) as z:
            keys = list(z.keys())
            axes = [z[f"axis{i}"] for i in range(sum(k.startswith("axis") for k in keys))]
            values = {k.split("/", 1)[1]: z[k] for k in keys if k.startswith("value/")}
            n_dirs = len({k.split("/")[0] for k in keys if k.startswith("dir")})
            dirs = [{k.split("/", 1)[1]: z[k] for k in keys if k.startswith(f"dir{i}/")} for i in range(n_dirs)]
            center = {k.split("/", 1)[1]: z[k] for k in keys if k.startswith("center/")}
            meta = json.loads(str(z["metadata"]))
        return cls(axes, values, dirs, center, meta)

    def directions_torch(self, device=None) -> list[Params]:
        return [{k: torch.as_tensor(v, device=device) for k, v in d.items()} for d in self.directions]


def _check_axis(values, name: str) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64)
    if a.ndim != 1 or len(a) < 2:
        raise ValueError(f"{name} must be a 1-D sequence of at least 2 coordinates, got shape {a.shape}; "
                         f"e.g. np.linspace(-1, 1, 21)")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite numbers")
    return a


def _to_numpy(d: Params) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in d.items()}


def _result(axes, values, directions, center, objective, method, metadata) -> SurfaceResult:
    meta = {"method": method, **(metadata or {})}
    if isinstance(objective, Supervised):
        meta.setdefault("data_size", int(len(objective.x)))
    shaped = {k: v.reshape([len(a) for a in axes]) for k, v in values.items()}
    return SurfaceResult(list(axes), shaped, [_to_numpy(d) for d in directions], _to_numpy(center), meta)


def loss_line(objective: Objective, center, direction: Params, alphas, method: str = "auto",
              metadata: dict | None = None, **kw) -> SurfaceResult:
    """Metrics along ``center + a * direction`` for each ``a`` in ``alphas``."""
    alphas = _check_axis(alphas, "alphas")
    center = parameters_of(center)
    vals = evaluate_points(objective, center, [direction], alphas[:, None], method=method, **kw)
    return _result([alphas], vals, [direction], center, objective, method, metadata)


def loss_plane(objective: Objective, center, directions: list[Params], alphas, betas,
               method: str = "auto", metadata: dict | None = None, **kw) -> SurfaceResult:
    """Metrics over the plane ``center + a * d1 + b * d2`` on the grid ``alphas x betas``."""
    if len(directions) != 2:
        raise ValueError(f"a plane needs exactly 2 directions, got {len(directions)}")
    alphas, betas = _check_axis(alphas, "alphas"), _check_axis(betas, "betas")
    center = parameters_of(center)
    aa, bb = np.meshgrid(alphas, betas, indexing="ij")
    coefs = np.stack([aa.ravel(), bb.ravel()], axis=1)
    vals = evaluate_points(objective, center, directions, coefs, method=method, **kw)
    return _result([alphas, betas], vals, directions, center, objective, method, metadata)


def interpolation(objective: Objective, start, end, alphas=None, method: str = "auto", **kw) -> SurfaceResult:
    """Linear interpolation ``(1 - a) * start + a * end`` (Goodfellow et al. 2015); a=0 start, a=1 end."""
    start, end = parameters_of(start), parameters_of(end)
    alphas = np.linspace(-0.25, 1.25, 31) if alphas is None else alphas
    return loss_line(objective, start, difference(end, start), alphas, method=method,
                     metadata={"kind": "interpolation"}, **kw)


@dataclass
class Trajectory:
    """A training path on a plane: coordinates, the checkpoints' own metrics, and how far off-plane."""
    coords: np.ndarray
    values: dict[str, np.ndarray]
    off_plane: np.ndarray
    label: str = ""


@torch.no_grad()
def trajectory(objective: Objective, checkpoints: list[Params], center, directions: list[Params],
               label: str = "", chunk_size: int | None = None) -> Trajectory:
    """Project checkpoints onto the plane and evaluate each checkpoint's own metrics (batched)."""
    center = parameters_of(center)
    coords, off = project(checkpoints, center, directions)
    size = chunk_size or _chunk_size(objective, len(checkpoints), None, DEFAULT_MEMORY)
    with eval_mode(objective.model):
        values = _evaluate_chunks(objective, (stack_params(checkpoints[i:i + size])
                                              for i in range(0, len(checkpoints), size)))
    return Trajectory(coords, values, off, label)


def plane_covering(objective: Objective, center, directions: list[Params], trajectories, points: int,
                   margin: float = 1.15, **kw) -> SurfaceResult:
    """A square plane around ``center``, just large enough to show every trajectory on it."""
    reach = margin * max(float(np.abs(t.coords).max()) for t in trajectories)
    axis = symmetric_axis(reach if reach > 0 else 1.0, points)
    return loss_plane(objective, center, directions, axis, axis, **kw)


def symmetric_axis(radius: float, n: int) -> np.ndarray:
    """``n`` evenly spaced coordinates from -radius to radius (0 included when n is odd)."""
    if n < 2:
        raise ValueError(f"a grid axis needs at least 2 points, got {n}")
    if not (radius > 0 and math.isfinite(radius)):
        raise ValueError(f"radius must be positive, got {radius}")
    return np.linspace(-radius, radius, n)
