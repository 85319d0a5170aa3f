"""Notebook 01's own pictures: training paths whose dots show their *own* loss, planes on a symlog
grid, runs over seeds (faint) with their mean (bold), the schedules, per-layer weight change, and a slice with its quadratic model.

Why paths carry their own loss: a path drawn on a plane shows each checkpoint at its *projection*,
and the background colour there is the loss of the projected weights, not of the checkpoint (the
trajectory-projection pitfall). Colouring every dot by the checkpoint's own loss, on the background's
colour scale, makes any disagreement visible; the real end losses are written next to the stars.
"""
from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colors as mcolors
from matplotlib.ticker import FuncFormatter

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
        c = run_color(p.label or "")
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
            (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
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


RUN_COLORS = {           # one colour per run, the same in every figure of notebook 01
    "v1": "#d62728", "v2": "#2ca02c", "calm": "#1f77b4",
    "constant": "#7f7f7f", "step": "#8c564b", "exponential": "#e377c2", "plateau": "#17becf",
    "cosine": "#ff7f0e", "decay_floor": "#bcbd22",
    "sigmoid": "#9467bd", "ReLU default": "#393b79", "ReLU He": "#637939", "ReLU x He": "#843c39",
}


def run_color(label: str) -> str:
    """The colour of a run, by the start of its label (``"v1: no clipping"`` -> v1's colour); grey if unknown."""
    key = max((k for k in RUN_COLORS if label.startswith(k)), key=len, default=None)
    return RUN_COLORS[key] if key else "#555555"


def seed_curves(ax, curves: dict, *, x=None, smooth: int = 1, log: bool = False, lw: float = 2.0, colors: dict | None = None):
    """Every seed's curve faint and their mean bold, one colour per run: ``curves`` is ``{label: [array
    per seed]}`` (equal lengths; a seed's NaN/inf drawn as a gap and left out). On a log axis (``log``) the
    bold line is the median over the seeds instead: one diverging seed's 1e16 would otherwise be the "mean"."""
    for label, ys in curves.items():
        ys = np.asarray([np.asarray(v, dtype=float) for v in ys])
        ys = np.where(np.isfinite(ys), ys, np.nan)
        if smooth > 1 and ys.shape[1] >= smooth:
            k = np.ones(smooth) / smooth
            ys = np.array([np.convolve(v, k, mode="valid") for v in ys])
        xs = np.arange(ys.shape[1]) + (smooth - 1 if smooth > 1 else 0) if x is None else np.asarray(x)
        c = (colors or {}).get(label, run_color(label))
        for v in ys:
            ax.plot(xs, v, color=c, alpha=0.35, linewidth=0.9, linestyle="-")
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)          # all seeds NaN at a step: a gap
            centre = (np.nanmedian if log else np.nanmean)(ys, axis=0)
        stat = "median" if log else "mean"
        alive = int(np.isfinite(ys).sum(axis=0).min()) if ys.size else 0
        of = f"of {len(ys)}" if alive == len(ys) else f"of the {len(ys)} seeds while finite"
        ax.plot(xs, centre, color=c, linewidth=lw, label=f"{label} ({stat} {of})")
    if log:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)


def schedule_panels(lr_curves: dict, loss_curves: dict, smooth: int = 10):
    """Two panels for the six schedules: the learning rate each sets (left) and the batch loss it gets
    (right: every seed faint, the mean bold, smoothed over ``smooth`` steps); one colour per schedule."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for name, lr in lr_curves.items():
        axes[0].plot(lr, color=run_color(name), linewidth=1.8, label=name)
    axes[0].set(yscale="log", xlabel="step", ylabel="learning rate", title="what each schedule does to the rate")
    axes[0].grid(alpha=0.3)
    axes[0].legend(ncol=2)
    seed_curves(axes[1], loss_curves, smooth=smooth, log=True)
    axes[1].set(xlabel="step", ylabel=f"batch loss ({smooth}-step mean)", title="the batch loss it gets")
    axes[1].legend(ncol=2)
    fig.tight_layout()
    return fig, axes


def layer_bars(values: dict, ax, ylabel: str, title: str | None = None):
    """Per-layer values of several networks as grouped bars on a log scale (layer 1 = next to the input),
    each network in its ``run_color``; the legend sits above the axes, never over the bars."""
    n = len(values)
    width = 0.8 / n
    for k, (label, v) in enumerate(values.items()):
        v = np.maximum(np.asarray(v, dtype=float), 1e-8)
        ax.bar(np.arange(1, len(v) + 1) + (k - (n - 1) / 2) * width, v, width, label=label, color=run_color(label))
    ax.set_yscale("log")
    ax.set_xlabel("layer (1 = next to the input)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.02), ncol=min(n, 3), borderaxespad=0)
    if title:
        ax.set_title(title, pad=30)
