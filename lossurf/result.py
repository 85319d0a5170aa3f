"""What a surface computation returns: ``SurfaceResult`` (axes, values, directions, centre, metadata; saved and loaded as one .npz), merged shards, and a ``Trajectory`` projected on a plane."""
from __future__ import annotations

import json
import numbers
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from .directions import Params


def _json_safe(value, where: str):
    """Metadata as plain JSON types: numpy/torch scalars to numbers, paths to strings; else a ValueError."""
    if isinstance(value, (str, bool)) or value is None:
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, np.ndarray) and value.size == 1:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"metadata key {k!r} in {where} must be a string (saved as JSON)")
            out[k] = _json_safe(v, f"{where}[{k!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [_json_safe(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise ValueError(f"metadata {where} is a {type(value).__name__}, which a surface file cannot hold; "
                     f"use numbers, strings, lists or dicts (e.g. str(value))")


def clean_metadata(metadata) -> dict:
    """Check metadata when a call starts (not after the computation): JSON-safe copy or ValueError."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise ValueError(f"metadata must be a dict, got {type(metadata).__name__}")
    return _json_safe(metadata, "metadata")


SURFACE_FORMAT = "lossurf-surface-1"


@dataclass
class SurfaceResult:
    """A 1-D line or 2-D plane of metric values with everything needed to redraw it exactly.

    ``values[m]`` has shape ``(len(alphas),)`` or ``(len(alphas), len(betas))`` with
    ``values[m][i, j]`` at ``center + alphas[i] * d1 + betas[j] * d2``. Non-finite values (diverged
    points) are kept as they are. ``metadata["method"]`` is the method that actually ran.
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
        if self.ndim < 2:
            raise ValueError("this is a 1-D result (a line): it has alphas but no betas")
        return self.axes[1]

    def n_nonfinite(self, metric: str = "loss") -> int:
        """How many points diverged (NaN or Inf)."""
        return int((~np.isfinite(self.values[metric])).sum())

    def at_center(self, metric: str = "loss") -> float:
        """The value at the grid point closest to (0, 0)."""
        idx = tuple(int(np.abs(ax).argmin()) for ax in self.axes)
        return float(self.values[metric][idx])

    def save(self, path) -> None:
        """Write one compressed ``.npz`` file at exactly ``path`` (no suffix added)."""
        meta = json.dumps(clean_metadata(self.metadata))
        arrays = {"format": np.array(SURFACE_FORMAT)}
        arrays.update({f"axis{i}": np.asarray(a) for i, a in enumerate(self.axes)})
        arrays.update({f"value/{k}": np.asarray(v) for k, v in self.values.items()})
        for i, d in enumerate(self.directions):
            arrays.update({f"dir{i}/{k}": np.asarray(v) for k, v in d.items()})
        arrays.update({f"center/{k}": np.asarray(v) for k, v in self.center.items()})
        arrays["metadata"] = np.array(meta)
        with open(path, "wb") as f:
            np.savez_compressed(f, **arrays)

    @classmethod
    def load(cls, path) -> "SurfaceResult":
        """Read a file written by ``save``; any other file is a ValueError that names it."""
        if not os.path.exists(path) and os.path.exists(f"{os.fspath(path)}.npz"):
            path = f"{os.fspath(path)}.npz"              # saved by an older version, which added .npz
        try:
            with np.load(path, allow_pickle=False) as z:
                keys = list(z.keys())
                if "metadata" not in keys or "axis0" not in keys:
                    raise KeyError("no axis0/metadata entries")
                axes = [z[f"axis{i}"] for i in range(sum(k.startswith("axis") for k in keys))]
                values = {k.split("/", 1)[1]: z[k] for k in keys if k.startswith("value/")}
                n_dirs = len({k.split("/")[0] for k in keys if k.startswith("dir")})
                dirs = [{k.split("/", 1)[1]: z[k] for k in keys if k.startswith(f"dir{i}/")} for i in range(n_dirs)]
                center = {k.split("/", 1)[1]: z[k] for k in keys if k.startswith("center/")}
                meta = json.loads(str(z["metadata"]))
        except FileNotFoundError:
            raise
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as e:
            raise ValueError(f"{os.fspath(path)!s} is not a lossurf surface file (written by "
                             f"SurfaceResult.save): {type(e).__name__}: {e}") from None
        return cls(axes, values, dirs, center, meta)

    def directions_torch(self, device=None) -> list[Params]:
        return [{k: torch.as_tensor(v, device=device) for k, v in d.items()} for d in self.directions]


def _check_axis(values, name: str) -> np.ndarray:
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a 1-D sequence of numbers, e.g. np.linspace(-1, 1, 21)") from None
    if a.ndim != 1 or len(a) < 2:
        raise ValueError(f"{name} must be a 1-D sequence of at least 2 coordinates, got shape {a.shape}; "
                         f"e.g. np.linspace(-1, 1, 21)")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite numbers (got NaN or inf)")
    return a


def _to_numpy(d: Params) -> dict[str, np.ndarray]:
    return {k: torch.as_tensor(v).detach().cpu().numpy() for k, v in d.items()}


def merge_shards(parts) -> SurfaceResult:
    """One ``SurfaceResult`` from the parts ``loss_plane(..., shard=(k, n))`` made, in any order."""
    parts = sorted(parts, key=lambda p: p.metadata.get("rows", [0])[0])
    if not parts:
        raise ValueError("merge_shards needs at least one part")
    whole = parts[-1].metadata.get("rows", [0, len(parts[-1].alphas), len(parts[-1].alphas)])[2]
    expect = 0
    for p in parts:
        start, stop, n = p.metadata.get("rows", [0, len(p.alphas), len(p.alphas)])
        if start != expect or n != whole:
            raise ValueError(f"the parts do not tile one grid: rows {start}..{stop} of {n} after row {expect}; "
                             f"pass every shard of the same surface exactly once")
        expect = stop
        first = parts[0]
        same = (p.ndim == first.ndim and all(np.array_equal(a, b) for a, b in zip(p.axes[1:], first.axes[1:]))
                and set(p.values) == set(first.values)
                and {k: v for k, v in p.metadata.items() if k != "rows"}
                == {k: v for k, v in first.metadata.items() if k != "rows"}
                and all(np.array_equal(p.center[k], first.center[k]) for k in first.center)
                and len(p.directions) == len(first.directions)
                and all(np.array_equal(d[k], e[k]) for d, e in zip(p.directions, first.directions) for k in d))
        if not same:
            raise ValueError("the parts come from different surfaces (centre, directions, axes, metrics, "
                             "method or metadata differ)")
    if expect != whole:
        raise ValueError(f"the parts cover rows 0..{expect} of {whole}: a shard is missing")
    first = parts[0]
    meta = {k: v for k, v in first.metadata.items() if k != "rows"}
    axes = [np.concatenate([p.alphas for p in parts])] + list(first.axes[1:])
    values = {k: np.concatenate([p.values[k] for p in parts]) for k in first.values}
    return SurfaceResult(axes, values, first.directions, first.center, meta)


@dataclass
class Trajectory:
    """A training path on a plane: coordinates, the checkpoints' own metrics, and how far off-plane."""
    coords: np.ndarray
    values: dict[str, np.ndarray]
    off_plane: np.ndarray
    label: str = ""
