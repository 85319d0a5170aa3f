"""Grid arithmetic shared by the generic and the fast path: points ``center + coefs @ directions``.

Kept apart from ``surface.py`` and ``fastpath.py`` so both import it without importing each other.
"""
from __future__ import annotations

import numpy as np
import torch

Params = dict[str, torch.Tensor]


def grid_points(center: Params, directions: list[Params], coefs: torch.Tensor) -> Params:
    """Stacked parameter sets: ``out[name][i] = center[name] + sum_j coefs[i, j] * directions[j][name]``.

    Summed term by term (not one matrix product), so a point's values do not depend on which other
    points share its chunk: any split of a grid (chunks, tiles, shards) gives bit-identical points.
    """
    return {name: combine(c, [dd[name] for dd in directions], coefs) for name, c in center.items()}


def combine(base: torch.Tensor, terms: list[torch.Tensor], coefs: torch.Tensor,
            out: torch.Tensor | None = None) -> torch.Tensor:
    """``base + sum_j coefs[:, j] * terms[j]`` stacked over the rows of ``coefs``: shape (P, *base.shape),
    written into ``out`` when given."""
    coefs = coefs.to(base)
    shape = (len(coefs),) + (1,) * base.dim()
    if not terms:
        full = base.unsqueeze(0).expand(len(coefs), *base.shape)
        return out.copy_(full) if out is not None else full.clone()
    out = torch.addcmul(base.unsqueeze(0), coefs[:, 0].reshape(shape), terms[0].unsqueeze(0), out=out)
    for j, t in enumerate(terms[1:], 1):
        out.addcmul_(coefs[:, j].reshape(shape), t.unsqueeze(0))
    return out


def stack_params(points: list[Params]) -> Params:
    """One ``{name: (P, *shape)}`` dict from P parameter dicts (for ``vmap``)."""
    return {k: torch.stack([p[k] for p in points]) for k in points[0]}


def float_dtype(params: Params) -> torch.dtype:
    """The floating dtype the parameters share (coefficients are cast to it)."""
    kinds = {v.dtype for v in params.values() if v.is_floating_point()}
    return kinds.pop() if len(kinds) == 1 else torch.float32


def plane_coefs(alphas: np.ndarray, betas: np.ndarray | None = None) -> np.ndarray:
    """Grid coefficients in row-major order: ``(len(alphas) * len(betas), 2)``, or ``(len(alphas), 1)``."""
    if betas is None:
        return np.asarray(alphas, dtype=np.float64)[:, None]
    aa, bb = np.meshgrid(alphas, betas, indexing="ij")
    return np.stack([aa.ravel(), bb.ravel()], axis=1)


def shard_rows(n_rows: int, shard=None, rows=None) -> tuple[int, int]:
    """The ``[start, stop)`` rows of the first axis to evaluate: all, ``rows=(start, stop)``, or
    ``shard=(k, n)`` (the k-th of n nearly equal contiguous blocks, k counted from 0)."""
    if shard is not None and rows is not None:
        raise ValueError("give either shard=(k, n) or rows=(start, stop), not both")
    if shard is not None:
        try:
            k, n = (int(v) for v in shard)
        except (TypeError, ValueError):
            raise ValueError(f"shard must be a pair (k, n) of integers, got {shard!r}") from None
        if not (n >= 1 and 0 <= k < n):
            raise ValueError(f"shard=(k, n) needs n >= 1 and 0 <= k < n, got {shard!r}")
        bounds = np.linspace(0, n_rows, n + 1).round().astype(int)
        return int(bounds[k]), int(bounds[k + 1])
    if rows is not None:
        try:
            start, stop = (int(v) for v in rows)
        except (TypeError, ValueError):
            raise ValueError(f"rows must be a pair (start, stop) of integers, got {rows!r}") from None
        if not 0 <= start < stop <= n_rows:
            raise ValueError(f"rows=(start, stop) needs 0 <= start < stop <= {n_rows}, got {rows!r}")
        return start, stop
    return 0, n_rows
