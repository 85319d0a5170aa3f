"""Loss along a line or over a plane in parameter space, many points at a time.

Every point is ``center + a * d1 (+ b * d2)`` with directions drawn once: a 2-D surface is one fixed
plane. Points are evaluated with ``torch.func.vmap`` over ``functional_call`` in chunks (the generic
path), one model copy at a time (``loop``, the reference), or, for a plain ``nn.Sequential`` whose
first layer is ``nn.Linear``/``nn.Conv2d``, with that layer factorised out of the grid (the fast
path, ``fastpath.py``, taken only where it is exact). The caller's model is never modified.
"""
from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Mapping

import numpy as np
import torch
from torch.func import vmap

from . import fastpath
from .directions import Params, check_directions, difference, parameters_of, project
from .grid import float_dtype, grid_points, plane_coefs, shard_rows, stack_params
from .model_state import eval_mode, load_params
from .objectives import Objective, Supervised, nan_where_diverged
from .progress import progress
from .result import SurfaceResult, Trajectory, _check_axis, _to_numpy, clean_metadata

__all__ = ["grid_points", "stack_params", "evaluate_points", "loss_line", "loss_plane", "interpolation",
           "trajectory", "plane_covering", "symmetric_axis", "merge_shards", "SurfaceResult", "Trajectory"]


METHODS = ("auto", "vmap", "fast", "loop")


DEFAULT_MEMORY = 512 * 2**20


# auto on a CPU: a point needing more memory than this is one large batched forward already, and
# vmap gains nothing over the loop (benchmarks/surface_speed.py measures both sides of the rule)
CPU_VMAP_MAX_BYTES = 16 * 2**20


# auto takes the fast path from this many points: below, its fixed costs (the first layer for the
# centre and each direction, one generic forward for the centre check) outweigh what it saves
MIN_FAST_POINTS = 16


HALF = (torch.float16, torch.bfloat16)


def _chunk_size(objective: Objective, n_points: int, chunk_size: int | None, memory: int) -> int:
    if chunk_size is not None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        return chunk_size
    return int(max(1, min(n_points, 256, memory // max(1, objective.bytes_per_point()))))


def _check_center(center: Params) -> None:
    """Refuse half-precision models up front (their sums over a dataset lose the loss's digits)."""
    half = sorted({str(v.dtype) for v in center.values() if v.dtype in HALF})
    if half:
        raise ValueError(f"the model's parameters are {', '.join(half)}: lossurf evaluates surfaces in "
                         f"float32 or float64; pass model.float() (a copy: copy.deepcopy(model).float())")


def as_directions(directions, center: Params, caller: str = "evaluate_points") -> list[Params]:
    """Directions as tensors on the centre's device (numpy arrays accepted), checked against it."""
    if isinstance(directions, Mapping):
        raise ValueError(f"{caller} takes a list of direction dicts, got one dict; pass [d] "
                         f"(or [d1, d2] for a plane)")
    out = []
    for i, d in enumerate(directions):
        if not isinstance(d, Mapping):
            raise ValueError(f"direction {i} is a {type(d).__name__}, not a dict {{parameter name: tensor}}; "
                             f"build directions with random_directions(model, ...)")
        out.append({k: torch.as_tensor(v) for k, v in d.items()})
    check_directions(center, out)
    for i, d in enumerate(out):
        for name, w in center.items():
            if d[name].dtype != w.dtype:
                raise ValueError(f"direction {i} is {d[name].dtype} for parameter {name!r} but the model is "
                                 f"{w.dtype}; convert it, e.g. {{k: v.to({w.dtype}) for k, v in d.items()}}")
        out[i] = {k: v.to(center[k].device) for k, v in d.items()}
    return out


@torch.no_grad()
def evaluate_stacked(objective: Objective, stacked: Params) -> dict[str, torch.Tensor]:
    """Evaluate one chunk of stacked parameter sets at once with ``vmap``."""
    return vmap(objective)(stacked)


def _accuracy_nan_where_diverged(objective: Objective, values: dict) -> dict:
    """A supervised objective's accuracy made NaN at the points whose loss diverged (in place)."""
    if isinstance(objective, Supervised) and "accuracy" in values and "loss" in values:
        values["accuracy"] = nan_where_diverged(values["loss"], values["accuracy"])
    return values


def evaluate_points(objective: Objective, center, directions: list[Params], coefs,
                    method: str = "auto", chunk_size: int | None = None, memory: int = DEFAULT_MEMORY,
                    desc: str | None = None) -> dict[str, np.ndarray]:
    """Metrics at ``center + coefs @ directions`` for every row of ``coefs`` (shape (P, k)).

    ``method``: ``vmap`` (generic, chunked), ``fast`` (first-layer factorisation, only where exact),
    ``loop`` (one model copy per point: the reference), or ``auto`` (fast where exact and the centre
    agrees with the generic value, else vmap or loop by model size and device, falling back to the
    loop if vmap fails). ``loss_line``/``loss_plane`` record the method that ran in the metadata.
    """
    return _evaluate(objective, center, directions, coefs, method, chunk_size, memory, desc)[0]


@torch.no_grad()
def _evaluate(objective: Objective, center, directions, coefs, method: str = "auto",
              chunk_size: int | None = None, memory: int = DEFAULT_MEMORY, desc: str | None = None,
              caller: str = "evaluate_points") -> tuple[dict[str, np.ndarray], str]:
    """``evaluate_points`` that also returns the method that actually ran."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    center = parameters_of(center)
    _check_center(center)
    directions = as_directions(directions, center, caller)
    coefs = np.asarray(coefs, dtype=np.float64)
    if coefs.ndim != 2 or coefs.shape[1] != len(directions):
        raise ValueError(f"coefs must have shape (points, {len(directions)}), got {coefs.shape}")
    if not np.isfinite(coefs).all():
        raise ValueError("coefs hold NaN or infinite coordinates; every grid coordinate must be finite")
    device = next(iter(center.values())).device
    coefs = torch.as_tensor(coefs, dtype=float_dtype(center), device=device)
    with eval_mode(objective.model):
        values, ran = _run(objective, center, directions, coefs, method, chunk_size, memory, desc)
    return _accuracy_nan_where_diverged(objective, values), ran


def _centre_agrees(fast: dict[str, np.ndarray], objective: Objective, center: Params) -> str | None:
    """Compare the fast path's first point (the centre) with the generic value there."""
    ref = {k: float(v) for k, v in objective(center).items()}
    n = len(objective.x) if isinstance(objective, Supervised) else 1
    for k, v in ref.items():
        got = float(fast[k][0])
        tol = 2.5 / n if k == "accuracy" else 1e-5 + 1e-4 * abs(v)
        if not (abs(got - v) <= tol or (math.isnan(got) and math.isnan(v)) or got == v):
            return f"fast {k} at the centre {got:.7g} differs from the generic {v:.7g}"
    return None


def _run(objective, center, directions, coefs, method, chunk_size, memory, desc):
    auto = method == "auto"
    if method == "fast" or (auto and len(coefs) >= MIN_FAST_POINTS):
        problem = fastpath.exactness_problem(objective)
        if problem is not None and not auto:
            raise ValueError(f"the fast path is not exact for this model ({problem}); use method='auto'")
        if problem is None:
            zero = torch.zeros(1, coefs.shape[1], dtype=coefs.dtype, device=coefs.device)
            try:
                out = fastpath.evaluate(objective, center, directions, torch.cat([zero, coefs]), desc=desc)
                problem = _centre_agrees(out, objective, center)
            except Exception as e:                   # noqa: BLE001 -- auto falls back, fast re-raises
                if not auto:
                    raise
                problem = f"it failed: {type(e).__name__}: {e}"
            if problem is None:
                return {k: v[1:] for k, v in out.items()}, "fast"
            if not auto:
                raise ValueError(f"the fast path is not exact here ({problem}); use method='auto'")
            warnings.warn(f"lossurf: fast path not used ({problem}); evaluating with the generic path",
                          RuntimeWarning, stacklevel=4)
    if auto:
        method = _generic_choice(objective, center)
    if method == "vmap":
        try:
            return _vmap(objective, center, directions, coefs, chunk_size, memory, desc), "vmap"
        except Exception as e:                       # noqa: BLE001 -- auto falls back to the loop
            if not auto:
                raise
            warnings.warn(f"lossurf: vmap failed ({type(e).__name__}: {e}); evaluating one point at a time "
                          f"(method='loop')", RuntimeWarning, stacklevel=4)
    return _loop(objective, center, directions, coefs, desc), "loop"


def _generic_choice(objective: Objective, center: Params) -> str:
    """vmap, except on a CPU when one point is already a large batched forward (then the loop)."""
    device = next(iter(center.values())).device
    if device.type != "cpu":
        return "vmap"
    try:
        size = objective.bytes_per_point()
    except Exception:                                # noqa: BLE001 -- an unusual model: vmap decides
        return "vmap"
    return "loop" if size > CPU_VMAP_MAX_BYTES else "vmap"


def _vmap(objective, center, directions, coefs, chunk_size, memory, desc) -> dict[str, np.ndarray]:
    size = _chunk_size(objective, len(coefs), chunk_size, memory)
    chunks = progress(list(torch.split(coefs, size)), desc=desc or "surface (vmap)")
    return _evaluate_chunks(objective, (grid_points(center, directions, c) for c in chunks))


def _loop(objective, center, directions, coefs, desc) -> dict[str, np.ndarray]:
    """One point at a time: a copy of the model holding the point's weights (Supervised), or one call."""
    results: dict[str, list] = {}
    for chunk in progress([coefs[i:i + 1] for i in range(len(coefs))], desc=desc or "surface (loop)"):
        point = {k: v[0] for k, v in grid_points(center, directions, chunk).items()}
        if type(objective) is Supervised:
            out = {k: torch.tensor([v], dtype=torch.float64)
                   for k, v in objective.of_model(load_params(objective.model, point)).items()}
        else:
            out = {k: v.reshape(1) for k, v in objective(point).items()}
        for k, v in out.items():
            results.setdefault(k, []).append(v.detach().double().cpu())
    return {k: torch.cat(v).numpy() for k, v in results.items()}


def _evaluate_chunks(objective: Objective, stacked_chunks) -> dict[str, np.ndarray]:
    """Evaluate an iterable of stacked parameter chunks with vmap and join the results."""
    parts: dict[str, list] = {}
    n = 0
    for stacked in stacked_chunks:
        for k, v in evaluate_stacked(objective, stacked).items():
            parts.setdefault(k, []).append(v.detach().double().cpu())
        n += 1
    if not n:
        raise ValueError("no points to evaluate")
    return {k: torch.cat(v).numpy() for k, v in parts.items()}


def _result(axes, values, directions, center, objective, method, metadata) -> SurfaceResult:
    meta = {**(metadata or {}), "method": method}
    if isinstance(objective, Supervised):
        meta.setdefault("data_size", int(len(objective.x)))
    shaped = {k: v.reshape([len(a) for a in axes]) for k, v in values.items()}
    return SurfaceResult(list(axes), shaped, [_to_numpy(d) for d in directions], _to_numpy(center), meta)


def _surface(objective, center, directions, axes, method, metadata, shard, rows, caller, kw) -> SurfaceResult:
    """Evaluate the rows ``shard``/``rows`` select (all by default) of the grid ``axes`` as one result."""
    metadata = clean_metadata(metadata)
    start, stop = shard_rows(len(axes[0]), shard, rows)
    if start == stop:
        raise ValueError(f"shard {shard!r} holds no rows: use at most {len(axes[0])} shards")
    part = [axes[0][start:stop]] + list(axes[1:])
    if (start, stop) != (0, len(axes[0])):
        metadata["rows"] = [start, stop, len(axes[0])]
    center = parameters_of(center)
    vals, ran = _evaluate(objective, center, directions, plane_coefs(*part), method=method, caller=caller, **kw)
    directions = as_directions(directions, center, caller)
    return _result(part, vals, directions, center, objective, ran, metadata)


def loss_line(objective: Objective, center, direction: Params, alphas, method: str = "auto",
              metadata: dict | None = None, shard=None, rows=None, **kw) -> SurfaceResult:
    """Metrics along ``center + a * direction`` for each ``a`` in ``alphas``.

    ``shard=(k, n)`` or ``rows=(start, stop)`` evaluates only part of ``alphas``; ``merge_shards``
    joins the parts into the whole result.
    """
    if not isinstance(direction, Mapping):
        raise ValueError(f"loss_line takes one direction (a dict {{name: tensor}}), got a "
                         f"{type(direction).__name__}; pass directions[0], or use loss_plane for two")
    alphas = _check_axis(alphas, "alphas")
    return _surface(objective, center, [direction], [alphas], method, metadata, shard, rows, "loss_line", kw)


def loss_plane(objective: Objective, center, directions: list[Params], alphas, betas,
               method: str = "auto", metadata: dict | None = None, shard=None, rows=None,
               **kw) -> SurfaceResult:
    """Metrics over the plane ``center + a * d1 + b * d2`` on the grid ``alphas x betas``.

    ``shard=(k, n)`` (k-th of n blocks of alpha rows) or ``rows=(start, stop)`` evaluates part of the
    grid, e.g. on several machines; ``merge_shards(parts)`` gives the same result as the whole grid.
    """
    if isinstance(directions, Mapping):
        raise ValueError("loss_plane takes a list of two directions [d1, d2], got one dict; "
                         "for a single direction use loss_line")
    if len(directions) != 2:
        raise ValueError(f"a plane needs exactly 2 directions, got {len(directions)}")
    alphas, betas = _check_axis(alphas, "alphas"), _check_axis(betas, "betas")
    return _surface(objective, center, directions, [alphas, betas], method, metadata, shard, rows,
                    "loss_plane", kw)


def interpolation(objective: Objective, start, end, alphas=None, method: str = "auto",
                  interpolate_buffers: bool = False, **kw) -> SurfaceResult:
    """Linear interpolation ``(1 - a) * start + a * end`` (Goodfellow et al. 2015); a=0 start, a=1 end.

    Only parameters are interpolated: every point uses the BatchNorm running statistics (buffers) of
    ``objective.model``, so with BatchNorm the a=1 end is not ``end``'s own loss. With
    ``interpolate_buffers=True`` (``start`` and ``end`` models) floating buffers are interpolated too
    (integer ones taken from the nearer end), so both ends are exactly the two models' own losses.
    """
    alphas = np.linspace(-0.25, 1.25, 31) if alphas is None else alphas
    if not interpolate_buffers:
        s, e = parameters_of(start), parameters_of(end)
        return loss_line(objective, s, difference(e, s), alphas, method=method,
                         metadata={"kind": "interpolation"}, **kw)
    if not (isinstance(start, torch.nn.Module) and isinstance(end, torch.nn.Module)):
        raise ValueError("interpolate_buffers=True needs start and end as models (their buffers are "
                         "interpolated too), got parameter dicts")
    alphas = _check_axis(alphas, "alphas")
    s, e = parameters_of(start), parameters_of(end)
    _check_center(s)
    as_directions([difference(e, s)], s, "interpolation")
    sb, eb = dict(start.named_buffers()), dict(end.named_buffers())
    results: dict[str, list] = {}
    with torch.no_grad(), eval_mode(objective.model):
        for a in progress(list(alphas), desc="interpolation"):
            point = {k: s[k] + float(a) * (e[k] - s[k]) for k in s}
            bufs = {k: (sb[k] + float(a) * (eb[k] - sb[k])) if sb[k].is_floating_point()
                    else (sb[k] if a < 0.5 else eb[k]).clone() for k in sb}
            obj = copy.copy(objective)
            obj.buffers = bufs
            for k, v in obj(point).items():
                results.setdefault(k, []).append(float(v))
    values = _accuracy_nan_where_diverged(objective, {k: np.asarray(v) for k, v in results.items()})
    return _result([alphas], values, [difference(e, s)], s, objective, "loop",
                   {"kind": "interpolation", "buffers": "interpolated"})


@torch.no_grad()
def trajectory(objective: Objective, center, directions: list[Params], checkpoints: list[Params],
               label: str = "", chunk_size: int | None = None) -> Trajectory:
    """Project checkpoints onto the plane and evaluate each checkpoint's own metrics (batched).

    Checkpoints hold parameters only: every one is evaluated with the BatchNorm running statistics
    (buffers) of ``objective.model``, not those the model had when the checkpoint was taken.
    """
    center = parameters_of(center)
    _check_center(center)
    directions = as_directions(directions, center, "trajectory")
    if not checkpoints:
        raise ValueError("trajectory needs at least one checkpoint")
    checkpoints = [parameters_of(c) for c in checkpoints]
    coords, off = project(center, directions, checkpoints)
    with eval_mode(objective.model):                 # also while bytes_per_point runs a forward
        try:
            size = _chunk_size(objective, len(checkpoints), chunk_size, DEFAULT_MEMORY)
            values = _evaluate_chunks(objective, (stack_params(checkpoints[i:i + size])
                                                  for i in range(0, len(checkpoints), size)))
        except Exception as e:                       # noqa: BLE001 -- e.g. no vmap rule (LSTM): one at a time
            warnings.warn(f"lossurf: vmap failed ({type(e).__name__}: {e}); evaluating the checkpoints one at "
                          f"a time", RuntimeWarning, stacklevel=2)
            parts = [objective(c) for c in checkpoints]
            values = {k: np.array([float(p[k]) for p in parts]) for k in parts[0]}
    return Trajectory(coords, _accuracy_nan_where_diverged(objective, values), off, label)


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
