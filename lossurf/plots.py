"""Pictures of surfaces and of training: every function draws on matplotlib and returns (fig, ax).

Diverged points (NaN/Inf loss) are never dropped silently: they are masked, hatched in red and
counted in the title.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colors as mcolors

from .surface import SurfaceResult

CMAP = "viridis"
DIVERGED = "#d62728"
FIGSIZE = (5.2, 4.2)
TRAJ_COLORS = ("#ff7f0e", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")


def _ax(ax=None, projection=None, figsize=FIGSIZE):
    if ax is not None:
        return ax.figure, ax
    fig = plt.figure(figsize=figsize)
    return fig, fig.add_subplot(projection=projection)


def _label(metric: str, log: bool) -> str:
    return f"log10 {metric}" if log else metric


def finite_values(result: SurfaceResult, metric: str = "loss", log: bool = False):
    """(values with non-finite masked, mask of diverged points); with ``log``, log10 of positive values
    (zeros and negatives are left blank, not counted as diverged)."""
    z = np.asarray(result.values[metric], dtype=float)
    bad = ~np.isfinite(z)
    hidden = bad.copy()
    if log:
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.log10(np.where(z > 0, z, np.nan))
        hidden |= ~np.isfinite(z)
    return np.ma.masked_array(z, hidden), bad


def _need_ndim(result: SurfaceResult, ndim: int, fn: str) -> None:
    """A clear error when a line is given to a plane plot or the reverse."""
    if result.ndim != ndim:
        kind = {1: "a 1-D line (loss_line)", 2: "a 2-D plane (loss_plane)"}
        other = "plot_line" if result.ndim == 1 else "plot_contour, plot_heatmap or plot_surface3d"
        raise ValueError(f"{fn} draws {kind[ndim]}, but this result is {kind.get(result.ndim, f'{result.ndim}-D')}; "
                         f"use {other}")


def _title(ax, title: str | None, n_bad: int):
    text = title or ""
    if n_bad:
        text = f"{text}\n({n_bad} diverged points, hatched)" if text else f"{n_bad} diverged points (hatched)"
    if text:
        ax.set_title(text, fontsize=10)


def _hatch_diverged(ax, a, b, bad):
    """Red hatched squares over every diverged grid point."""
    if not bad.any():
        return
    from matplotlib.patches import Rectangle
    da = np.diff(a).mean() if len(a) > 1 else 1.0
    db = np.diff(b).mean() if len(b) > 1 else 1.0
    for i, j in zip(*np.nonzero(bad)):
        ax.add_patch(Rectangle((a[i] - da / 2, b[j] - db / 2), da, db, fill=False, hatch="xxx",
                               edgecolor=DIVERGED, linewidth=0))


def _norm(vmin, vmax):
    return None if vmin is None else mcolors.Normalize(vmin=vmin, vmax=vmax)


def plot_line(results, metric: str = "loss", labels=None, ax=None, log: bool = False, title=None,
              xlabel: str = "step along the direction (alpha)"):
    """One or more 1-D slices; diverged points marked with red crosses on the bottom axis."""
    results = [results] if isinstance(results, SurfaceResult) else list(results)
    for res in results:
        _need_ndim(res, 1, "plot_line")
    labels = labels or [None] * len(results)
    fig, ax = _ax(ax)
    n_bad = 0
    for res, lab in zip(results, labels):
        z, bad = finite_values(res, metric)
        ax.plot(res.alphas, z.filled(np.nan), marker=".", label=lab)
        n_bad += int(bad.sum())
        if bad.any():
            ax.plot(res.alphas[bad], np.zeros(bad.sum()), "x", color=DIVERGED, transform=ax.get_xaxis_transform())
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(metric)
    if any(labels):
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    _title(ax, title, n_bad)
    return fig, ax


def plot_contour(result: SurfaceResult, metric: str = "loss", trajectories=(), ax=None, log: bool = False,
                 levels: int = 25, title=None, vmin=None, vmax=None, colorbar: bool = True,
                 mark_center: bool = True):
    """Filled contour of a plane, with training paths drawn on it and the centre marked."""
    _need_ndim(result, 2, "plot_contour")
    z, bad = finite_values(result, metric, log)
    a, b = result.alphas, result.betas
    fig, ax = _ax(ax)
    lo = np.nanmin(z.filled(np.nan)) if vmin is None else vmin
    hi = np.nanmax(z.filled(np.nan)) if vmax is None else vmax
    if np.isfinite(lo) and np.isfinite(hi) and hi > lo:
        cs = ax.contourf(a, b, z.T, levels=np.linspace(lo, hi, levels), cmap=CMAP, extend="both")
        ax.contour(a, b, z.T, levels=np.linspace(lo, hi, levels)[::3], colors="k", linewidths=0.4, alpha=0.5)
        if colorbar:
            fig.colorbar(cs, ax=ax, label=_label(metric, log))
    _hatch_diverged(ax, a, b, bad)
    for k, tr in enumerate(trajectories):
        c = TRAJ_COLORS[k % len(TRAJ_COLORS)]
        ax.plot(tr.coords[:, 0], tr.coords[:, 1], "-o", color=c, markersize=2.5, linewidth=1.5,
                label=tr.label or None)
        ax.plot(*tr.coords[0, :2], "s", color=c, markersize=6, markeredgecolor="k")
        ax.plot(*tr.coords[-1, :2], "*", color=c, markersize=11, markeredgecolor="k")
    if mark_center:
        ax.plot(0, 0, "P", color="white", markeredgecolor="k", markersize=10, label="centre")
    ax.set_xlim(a[0], a[-1])
    ax.set_ylim(b[0], b[-1])
    ax.set_xlabel("direction 1 (alpha)")
    ax.set_ylabel("direction 2 (beta)")
    if trajectories or mark_center:
        ax.legend(fontsize=7, loc="upper right")
    _title(ax, title, int(bad.sum()))
    return fig, ax


def plot_heatmap(result: SurfaceResult, metric: str = "loss", ax=None, log: bool = False, title=None,
                 vmin=None, vmax=None, colorbar: bool = True):
    """The plane as coloured cells, one per grid point; diverged cells hatched."""
    _need_ndim(result, 2, "plot_heatmap")
    z, bad = finite_values(result, metric, log)
    a, b = result.alphas, result.betas
    fig, ax = _ax(ax)
    mesh = ax.pcolormesh(a, b, z.T, cmap=CMAP, shading="nearest", norm=_norm(vmin, vmax))
    if colorbar:
        fig.colorbar(mesh, ax=ax, label=_label(metric, log))
    _hatch_diverged(ax, a, b, bad)
    ax.set_xlabel("direction 1 (alpha)")
    ax.set_ylabel("direction 2 (beta)")
    ax.set_aspect("auto")
    _title(ax, title, int(bad.sum()))
    return fig, ax


def plot_surface3d(result: SurfaceResult, metric: str = "loss", ax=None, log: bool = False, title=None,
                   elev: float = 35, azim: float = -60, vmin=None, vmax=None):
    """3-D surface of a plane; diverged points leave holes and are marked with red crosses below."""
    _need_ndim(result, 2, "plot_surface3d")
    z, bad = finite_values(result, metric, log)
    aa, bb = np.meshgrid(result.alphas, result.betas, indexing="ij")
    fig, ax = _ax(ax, projection="3d", figsize=(6, 4.6))
    zf = z.filled(np.nan)
    lo = np.nanmin(zf) if vmin is None else vmin
    hi = np.nanmax(zf) if vmax is None else vmax
    ax.plot_surface(aa, bb, zf, cmap=CMAP, norm=mcolors.Normalize(lo, hi), linewidth=0, antialiased=True,
                    rcount=60, ccount=60)
    if bad.any():
        ax.scatter(aa[bad], bb[bad], np.full(bad.sum(), lo), marker="x", color=DIVERGED, s=12)
    ax.set_xlabel("alpha")
    ax.set_ylabel("beta")
    ax.set_zlabel(_label(metric, log))
    ax.view_init(elev=elev, azim=azim)
    _title(ax, title, int(bad.sum()))
    return fig, ax


def compare_surfaces(results, titles, metric: str = "loss", kind: str = "contour", log: bool = False,
                     trajectories=None, suptitle=None):
    """Surfaces side by side on one colour scale, so equal colours mean equal values."""
    if kind not in ("contour", "heatmap"):
        raise ValueError(f"kind must be 'contour' or 'heatmap', got {kind!r}")
    vals = [finite_values(r, metric, log)[0].compressed() for r in results]
    vals = [v for v in vals if v.size]
    vmin = min(v.min() for v in vals) if vals else None
    vmax = max(v.max() for v in vals) if vals else None
    fig, axes = plt.subplots(1, len(results), figsize=(4.6 * len(results), 3.9), squeeze=False)
    axes = axes[0]
    for i, (res, t, ax) in enumerate(zip(results, titles, axes)):
        trs = trajectories[i] if trajectories else ()
        if kind == "contour":
            plot_contour(res, metric, trs, ax=ax, log=log, title=t, vmin=vmin, vmax=vmax,
                         colorbar=i == len(results) - 1)
        else:
            plot_heatmap(res, metric, ax=ax, log=log, title=t, vmin=vmin, vmax=vmax,
                         colorbar=i == len(results) - 1)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig, axes


def plot_surface_views(result: SurfaceResult, metric: str = "loss", log: bool = False, trajectories=(),
                       suptitle=None):
    """The three views of one plane in a row: 3-D surface, contour (with paths), heatmap."""
    fig = plt.figure(figsize=(15, 4.3))
    ax3 = fig.add_subplot(1, 3, 1, projection="3d")
    plot_surface3d(result, metric, ax=ax3, log=log, title="3-D surface")
    plot_contour(result, metric, trajectories, ax=fig.add_subplot(1, 3, 2), log=log, title="contour")
    plot_heatmap(result, metric, ax=fig.add_subplot(1, 3, 3), log=log, title="heatmap")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig, fig.axes


def _finish(ax, xlabel, ylabel, hline=None, hline_label=None, log=False, title=None):
    """Threshold line, log scale, labels, grid, legend and title of a curve plot."""
    if hline is not None:
        ax.axhline(hline, color="k", linestyle="--", linewidth=1, label=hline_label)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)


def plot_curves(series: dict, ylabel: str, ax=None, log: bool = False, hline=None, hline_label=None,
                smooth: int = 1, xlabel: str = "step", title=None):
    """Several training curves (``{label: values}``), optionally smoothed, with a threshold line."""
    fig, ax = _ax(ax, figsize=(6, 3.6))
    for k, (label, v) in enumerate(series.items()):
        v = np.asarray(v, dtype=float)
        if smooth > 1 and len(v) >= smooth:
            ax.plot(v, color=TRAJ_COLORS[k % len(TRAJ_COLORS)], alpha=0.25, linewidth=0.8)
            kernel = np.ones(smooth) / smooth
            v_s = np.convolve(np.where(np.isfinite(v), v, np.nan), kernel, mode="valid")
            ax.plot(np.arange(smooth - 1, len(v)), v_s, color=TRAJ_COLORS[k % len(TRAJ_COLORS)], label=label)
        else:
            ax.plot(v, color=TRAJ_COLORS[k % len(TRAJ_COLORS)], label=label, linewidth=1.2)
    _finish(ax, xlabel, ylabel, hline, hline_label, log, title)
    return fig, ax


def save(fig, path, dpi: int = 90) -> None:
    """Save a figure as a PNG of modest size for the README (img/)."""
    fig.savefig(path, dpi=dpi, bbox_inches="tight")


def style(dpi: int = 72) -> None:
    """Defaults that render crisply on GitHub and keep notebooks small."""
    plt.rcParams.update({"figure.dpi": dpi, "savefig.dpi": 90, "font.size": 10, "axes.titlesize": 10,
                         "legend.framealpha": 0.8, "image.cmap": CMAP})


def show_digits(x, y, n: int = 10, title: str | None = None):
    """The first ``n`` images with their labels (x flattened 784 or 1x28x28, normalised)."""
    fig, axes = plt.subplots(1, n, figsize=(1.1 * n, 1.5))
    for i, ax in enumerate(axes):
        ax.imshow(np.asarray(x[i]).reshape(28, 28), cmap="gray_r")
        ax.set_title(str(int(y[i])), fontsize=10)
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig, axes


def plot_layer_norms(norms: dict, ax=None, title=None):
    """Per-layer gradient norms (first layer on the left), one line per network, log scale."""
    fig, ax = _ax(ax, figsize=(6, 3.6))
    for k, (label, v) in enumerate(norms.items()):
        ax.plot(np.arange(1, len(v) + 1), np.maximum(v, 1e-30), "-o", color=TRAJ_COLORS[k % 6], label=label)
    _finish(ax, "layer (1 = next to the input)", "weight gradient norm", log=True, title=title)
    return fig, ax


def plot_mean_spread(x, series: dict, ylabel: str, ax=None, xlabel: str = "environment step", hline=None,
                     hline_label=None, log: bool = False, title=None):
    """Mean over seeds (line) and min-max spread (band) of each ``{label: array (seeds, len(x))}``."""
    fig, ax = _ax(ax, figsize=(6, 3.6))
    for k, (label, ys) in enumerate(series.items()):
        ys = np.asarray(ys, dtype=float)
        c = TRAJ_COLORS[k % len(TRAJ_COLORS)]
        ax.plot(x, ys.mean(0), color=c, label=f"{label} (mean of {len(ys)})", linewidth=1.6)
        ax.fill_between(x, ys.min(0), ys.max(0), color=c, alpha=0.18, linewidth=0)
    _finish(ax, xlabel, ylabel, hline, hline_label, log, title)
    return fig, ax
