"""Notebook 01's own pictures: training paths whose dots show their *own* loss, planes on a symlog
grid, the schedules as small multiples, per-layer weight change, and a slice with its quadratic model.

Why paths carry their own loss: a path drawn on a plane shows each checkpoint at its *projection*,
and the background colour there is the loss of the projected weights, not of the checkpoint (the
trajectory-projection pitfall). Colouring every dot by the checkpoint's own loss, on the background's
colour scale, makes any disagreement visible; the real end losses are written next to the stars.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colors as mcolors

from ..plots import CMAP, TRAJ_COLORS, finite_values, log_colorbar, series_style
from ..report import fmt


def symlog_axis(reach: float, n: int, smallest: float | None = None) -> np.ndarray:
    """``n`` coordinates from -reach to reach, 0 included, geometrically spaced away from 0, so one grid
    samples both a valley a few units wide and a jump hundreds of units long."""
    if n < 3:
        raise ValueError(f"a symlog axis needs at least 3 points, got {n}")
    half = n // 2
    smallest = reach / 100 if smallest is None else smallest
    pos = np.geomspace(min(smallest, reach), reach, half)
    return np.concatenate([-pos[::-1], [0.0], pos] if n % 2 else [-pos[::-1], pos])


def plane_with_paths(plane, paths, ax, *, log: bool = True, title: str | None = None, symlog: str = "",
                     vmin: float | None = None, vmax: float | None = None, levels: int = 25,
                     annotate: bool = True, colorbar: bool = True):
    """Filled contour of ``plane`` with training paths; every dot coloured by its checkpoint's own loss on
    the same colour scale, real end losses written at the end stars. ``symlog``: "", "x", "y" or "xy",
    the axes drawn linear near 0 and logarithmic beyond (use with ``symlog_axis``). Returns the norm."""
    z, bad = finite_values(plane, "loss", log)
    own = [np.asarray(p.values["loss"], dtype=float) for p in paths]
    tf = (lambda v: np.log10(v)) if log else (lambda v: v)
    allv = np.concatenate([z.compressed()] + [tf(o[np.isfinite(o) & (o > 0)]) for o in own])
    lo = float(allv.min()) if vmin is None else vmin
    hi = float(allv.max()) if vmax is None else vmax
    norm = mcolors.Normalize(lo, hi)
    a, b = plane.alphas, plane.betas
    cs = ax.contourf(a, b, z.T, levels=np.linspace(lo, hi, levels), cmap=CMAP, norm=norm, extend="both")
    ax.contour(a, b, z.T, levels=np.linspace(lo, hi, levels)[::3], colors="k", linewidths=0.4, alpha=0.5)
    if bad.any():
        aa, bb = np.meshgrid(a, b, indexing="ij")
        ax.plot(aa[bad], bb[bad], "x", color="#d62728", markersize=4, label=f"{int(bad.sum())} diverged points")
    for k, (p, o) in enumerate(zip(paths, own)):
        st = series_style(k)         # each run its own dash and dot shape: one run's dots under another's still show
        c = st["color"]
        ax.plot(p.coords[:, 0], p.coords[:, 1], color=c, linestyle=st["linestyle"], linewidth=1.4,
                marker=st["marker"], markersize=5, markerfacecolor="none", label=p.label or None, zorder=3 + 0.1 * k)
        ax.scatter(p.coords[:, 0], p.coords[:, 1], c=tf(np.where(o > 0, o, np.nan)), cmap=CMAP, norm=norm,
                   s=26 if k == 0 else 18, marker=st["marker"], edgecolors=c, linewidths=1.0, zorder=3.5 + 0.1 * k)
        ax.plot(*p.coords[0, :2], "s", color=c, markersize=8, markeredgecolor="k", zorder=5)
        ax.plot(*p.coords[-1, :2], "*", color=c, markersize=15, markeredgecolor="k", zorder=5 + 0.1 * k)
        if annotate:
            right = p.coords[-1, 0] > (a[0] + a[-1]) / 2
            high = p.coords[-1, 1] > (b[0] + b[-1]) / 2 or k % 2
            ax.annotate(f"{p.label.split(':')[0]} end: loss {fmt(o[-1])}", p.coords[-1, :2],
                        xytext=(-12 if right else 12, -18 if high else 10), ha="right" if right else "left",
                        textcoords="offset points", color="k",
                        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": c, "alpha": 0.9}, zorder=5)
    for axis, setter, vals in (("x", ax.set_xscale, a), ("y", ax.set_yscale, b)):
        if axis in symlog:
            pos = np.abs(vals[vals != 0])
            setter("symlog", linthresh=float(pos.min()) if pos.size else 1.0)
    ax.set_xlim(a[0], a[-1])
    ax.set_ylim(b[0], b[-1])
    ax.set_xlabel("direction 1 (distance)")
    ax.set_ylabel("direction 2 (distance)")
    ax.legend(loc="lower right", title="\u25a0 start  \u2605 end", title_fontsize="medium", labelspacing=0.3,
              handlelength=1.8, borderpad=0.3)
    if title:
        ax.set_title(title)
    if colorbar:
        cb = ax.figure.colorbar(cs, ax=ax, label=("loss (log scale)" if log else "loss") + ", background and dots")
        if log:
            log_colorbar(cb, lo, hi)
    return norm


def schedule_grid(runs: dict, final_loss: dict, smooth: int = 10):
    """Small multiples, one column per schedule: its learning rate (top) and its batch loss (bottom,
    smoothed over ``smooth`` steps), the final training loss in the title; shared axes."""
    n = len(runs)
    fig, axes = plt.subplots(2, n, figsize=(2.3 * n, 4.6), sharex=True, sharey="row", squeeze=False)
    for k, (name, run) in enumerate(runs.items()):
        a = run.log.arrays()
        c = TRAJ_COLORS[k % len(TRAJ_COLORS)]
        axes[0, k].plot(a["lr"], color=c, linestyle="-")
        axes[0, k].set_yscale("log")
        axes[0, k].set_title(f"{name}\nfinal loss {fmt(final_loss[name])}")
        loss = a["loss"]
        axes[1, k].plot(loss, color=c, linestyle="-", alpha=0.25, linewidth=0.7)
        if len(loss) >= smooth:
            axes[1, k].plot(np.arange(smooth - 1, len(loss)), np.convolve(loss, np.ones(smooth) / smooth, "valid"),
                            color=c, linestyle="-")
        axes[1, k].set_yscale("log")
        axes[1, k].set_xlabel("step")
        for ax in axes[:, k]:
            ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("learning rate")
    axes[1, 0].set_ylabel(f"batch loss ({smooth}-step mean)")
    fig.tight_layout()
    return fig, axes


def layer_bars(values: dict, ax, ylabel: str, title: str | None = None):
    """Per-layer values of several networks as grouped bars on a log scale (layer 1 = next to the input)."""
    n = len(values)
    width = 0.8 / n
    for k, (label, v) in enumerate(values.items()):
        v = np.maximum(np.asarray(v, dtype=float), 1e-8)
        ax.bar(np.arange(1, len(v) + 1) + (k - (n - 1) / 2) * width, v, width, label=label,
               color=TRAJ_COLORS[k % len(TRAJ_COLORS)])
    ax.set_yscale("log")
    ax.set_xlabel("layer (1 = next to the input)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, axis="y")
    ax.legend()
    if title:
        ax.set_title(title)
