"""Pictures of a surface (a line, a contour, a heatmap, a 3-D view): diverged points masked, hatched and counted, never dropped."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colors as mcolors
from matplotlib import ticker

from ..report import fmt
from ..result import SurfaceResult
from .theme import CMAP, DIVERGED, _ax, _label, series_style


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


def real_label(v: float) -> str:
    """A tick value as a short real number: 0.05, 0.2, 1, 30, 2e+04 -> '2e4'."""
    if v == 0:
        return "0"
    s = f"{v:.3g}" if 1e-3 <= abs(v) < 1e5 else f"{v:.0e}"
    return s.replace("e+0", "e").replace("e-0", "e-").replace("e+", "e")


def log_ticks(lo: float, hi: float, most: int = 8) -> np.ndarray:
    """Real values for the ticks of a log10 axis from ``lo`` to ``hi`` (log10 units): decades, then
    1-2-5, then 1..9 per decade, whichever first gives at least 3 ticks; plain steps on a short range."""
    vlo, vhi = 10.0 ** lo, 10.0 ** hi
    inside = lambda t: t[(t > 0) & (t >= vlo * (1 - 1e-9)) & (t <= vhi * (1 + 1e-9))]
    t = np.array([])
    for subs in ((1.0,), (1.0, 2.0, 5.0), tuple(range(1, 10))):
        t = inside(ticker.LogLocator(10, subs=subs).tick_values(vlo, vhi))
        if len(t) >= 3:
            break
    if len(t) < 3:
        t = inside(ticker.MaxNLocator(4).tick_values(vlo, vhi))
    if len(t) > most:
        t = t[:: int(np.ceil(len(t) / most))]
    return t


def log_colorbar(cb, lo: float | None = None, hi: float | None = None) -> None:
    """Tick a colour bar whose values are log10 of the quantity at real values (0.1, 0.2, 0.5, 1, ...)."""
    if lo is None or hi is None:
        lo, hi = cb.mappable.norm.vmin, cb.mappable.norm.vmax
    t = log_ticks(lo, hi)
    cb.set_ticks(np.log10(t), labels=[real_label(v) for v in t])
    cb.ax.minorticks_off()


def _log_axis(axis, lo: float, hi: float) -> None:
    """The same real-valued ticks on a plain axis that holds log10 values (the 3-D surface's z)."""
    t = log_ticks(lo, hi, most=6)
    axis.set_ticks(np.log10(t), labels=[real_label(v) for v in t])


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
        ax.set_title(text)


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


def _is_constant(v: np.ndarray) -> bool:
    return v.size > 0 and float(v.max() - v.min()) <= 1e-12 * max(1.0, float(np.abs(v).max()))


def color_limits(zs, vmin=None, vmax=None) -> tuple[float, float] | None:
    """One (vmin, vmax) for the finite values of every masked array in ``zs``; a constant range is widened
    around its value (so it has a colour, the middle one); None when nothing is finite."""
    vals = np.concatenate([np.ma.asarray(z).compressed().ravel() for z in zs] or [np.array([])])
    vals = vals[np.isfinite(vals)]
    lo = float(vals.min()) if vmin is None and vals.size else vmin
    hi = float(vals.max()) if vmax is None and vals.size else vmax
    if lo is None or hi is None:
        return None
    if not hi > lo:
        pad = max(abs(lo) * 0.05, 0.05)
        lo, hi = lo - pad, hi + pad
    return float(lo), float(hi)


def surface_note(result: SurfaceResult, metric: str = "loss", log: bool = False) -> str | None:
    """What a panel says instead of an empty picture: 'constant surface: loss = 0.693',
    'all 961 points diverged', or None when the surface has something to colour."""
    z, bad = finite_values(result, metric, log)
    v = z.compressed()
    if v.size == 0:
        if bad.all():
            return f"all {bad.size} points diverged"
        return f"no positive {metric} to draw on a log scale" if log else f"no finite {metric}"
    if _is_constant(v):
        real = 10.0 ** v[0] if log else v[0]
        extra = f" ({int(bad.sum())} diverged)" if bad.any() else ""
        return f"constant surface: {metric} = {fmt(real)}{extra}"
    return None


def _note(ax, text: str | None) -> None:
    """Write ``text`` boxed in the middle of the panel; a long note breaks after its colon so that
    the box stays inside a narrow panel."""
    if not text:
        return
    if len(text) > 24 and ": " in text:
        text = text.replace(": ", ":\n", 1)
    kw = {"ha": "center", "va": "center", "transform": ax.transAxes, "zorder": 10, "color": "k",
          "fontsize": "large", "bbox": {"boxstyle": "round,pad=0.4", "fc": "white", "ec": "0.3", "alpha": 0.92}}
    (ax.text2D if hasattr(ax, "text2D") else ax.text)(0.5, 0.5, text, **kw)


def _colorbar(fig, mappable, ax, metric, log, lo, hi):
    cb = fig.colorbar(mappable, ax=ax, label=_label(metric, log))
    if log:
        log_colorbar(cb, lo, hi)
    else:
        cb.set_ticks(ticker.MaxNLocator(6))
    return cb


def plot_line(results, metric: str = "loss", labels=None, ax=None, log: bool = False, title=None,
              xlabel: str = "step along the direction (alpha)"):
    """One or more 1-D slices (each its own colour, dash and hollow marker); diverged points marked with
    red crosses on the bottom axis."""
    results = [results] if isinstance(results, SurfaceResult) else list(results)
    for res in results:
        _need_ndim(res, 1, "plot_line")
    labels = labels or [None] * len(results)
    fig, ax = _ax(ax)
    n_bad = 0
    for k, (res, lab) in enumerate(zip(results, labels)):
        z, bad = finite_values(res, metric)
        ax.plot(res.alphas, z.filled(np.nan), label=lab, markersize=3.5, **series_style(k))
        n_bad += int(bad.sum())
        if bad.any():
            ax.plot(res.alphas[bad], np.zeros(bad.sum()), "x", color=DIVERGED, transform=ax.get_xaxis_transform())
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(metric)
    if any(labels):
        ax.legend()
    ax.grid(alpha=0.3)
    _title(ax, title, n_bad)
    return fig, ax


def plot_contour(result: SurfaceResult, metric: str = "loss", trajectories=(), ax=None, log: bool = False,
                 levels: int = 25, title=None, vmin=None, vmax=None, colorbar: bool = True,
                 mark_center: bool = True):
    """Filled contour of a plane, with training paths drawn on it (start = square, end = star, drawn above
    the centre's ring) and the centre marked; a constant or all-diverged plane says so."""
    _need_ndim(result, 2, "plot_contour")
    z, bad = finite_values(result, metric, log)
    a, b = result.alphas, result.betas
    fig, ax = _ax(ax)
    lim = color_limits([z], vmin, vmax)
    if lim is not None and z.count():
        lo, hi = lim
        lv = np.linspace(lo, hi, levels)
        norm = mcolors.Normalize(lo, hi)
        cs = ax.contourf(a, b, z.T, levels=lv, cmap=CMAP, norm=norm, extend="both")
        if not _is_constant(z.compressed()):
            ax.contour(a, b, z.T, levels=lv[::3], colors="k", linewidths=0.4, alpha=0.5)
    elif lim is not None:
        cs = plt.cm.ScalarMappable(mcolors.Normalize(*lim), CMAP)   # nothing to fill: the scale still shows
    if colorbar and lim is not None:
        _colorbar(fig, cs, ax, metric, log, *lim)
    _hatch_diverged(ax, a, b, bad)
    if mark_center:   # an open ring under the paths: an end star at the centre stays visible inside it
        ax.plot(0, 0, "o", markerfacecolor="none", markeredgecolor="white", markersize=15, markeredgewidth=3,
                zorder=4)
        ax.plot(0, 0, "o", markerfacecolor="none", markeredgecolor="k", markersize=15, markeredgewidth=1.2,
                zorder=4, label="centre")
    for k, tr in enumerate(trajectories):
        st = series_style(k)
        c = st["color"]
        ax.plot(tr.coords[:, 0], tr.coords[:, 1], linewidth=1.5, markersize=3.5, label=tr.label or None,
                **{**st, "zorder": 5 + 0.1 * k})
        ax.plot(*tr.coords[0, :2], "s", color=c, markersize=7, markeredgecolor="k", zorder=6)
        ax.plot(*tr.coords[-1, :2], "*", color=c, markersize=12, markeredgecolor="k", zorder=7)
    ax.set_xlim(a[0], a[-1])
    ax.set_ylim(b[0], b[-1])
    ax.set_xlabel("direction 1 (alpha)")
    ax.set_ylabel("direction 2 (beta)")
    if trajectories or mark_center:
        ax.legend(loc="best", title="\u25a0 start  \u2605 end" if len(trajectories) else None,
                  title_fontsize="medium", labelspacing=0.3, handlelength=1.6, borderpad=0.3)
    _note(ax, surface_note(result, metric, log))
    _title(ax, title, int(bad.sum()))
    return fig, ax


def plot_heatmap(result: SurfaceResult, metric: str = "loss", ax=None, log: bool = False, title=None,
                 vmin=None, vmax=None, colorbar: bool = True):
    """The plane as coloured cells, one per grid point; diverged cells hatched."""
    _need_ndim(result, 2, "plot_heatmap")
    z, bad = finite_values(result, metric, log)
    a, b = result.alphas, result.betas
    fig, ax = _ax(ax)
    lim = color_limits([z], vmin, vmax)
    mesh = ax.pcolormesh(a, b, z.T, cmap=CMAP, shading="nearest", norm=mcolors.Normalize(*(lim or (0.0, 1.0))))
    if colorbar and lim is not None:
        _colorbar(fig, mesh, ax, metric, log, *lim)
    _hatch_diverged(ax, a, b, bad)
    ax.set_xlabel("direction 1 (alpha)")
    ax.set_ylabel("direction 2 (beta)")
    ax.set_aspect("auto")
    _note(ax, surface_note(result, metric, log))
    _title(ax, title, int(bad.sum()))
    return fig, ax


def plot_surface3d(result: SurfaceResult, metric: str = "loss", ax=None, log: bool = False, title=None,
                   elev: float = 35, azim: float = -60, vmin=None, vmax=None):
    """3-D surface of a plane, coloured without shading (a colour means the same value as in the contour and
    the heatmap), a sparse black wireframe for depth; diverged points leave holes, red crosses below."""
    _need_ndim(result, 2, "plot_surface3d")
    z, bad = finite_values(result, metric, log)
    aa, bb = np.meshgrid(result.alphas, result.betas, indexing="ij")
    fig, ax = _ax(ax, projection="3d", figsize=(6, 4.6))
    zf = z.filled(np.nan)
    lim = color_limits([z], vmin, vmax)
    lo = lim[0] if lim else 0.0
    if z.count():
        ax.plot_surface(aa, bb, zf, cmap=CMAP, norm=mcolors.Normalize(*lim), linewidth=0, antialiased=False,
                        shade=False, rcount=60, ccount=60)
        step = max(1, max(zf.shape) // 10)
        ax.plot_wireframe(aa, bb, zf, rstride=step, cstride=step, color="k", linewidth=0.3, alpha=0.35)
        if log:
            _log_axis(ax.zaxis, *lim)
    if bad.any():
        ax.scatter(aa[bad], bb[bad], np.full(bad.sum(), lo), marker="x", color=DIVERGED, s=12)
    ax.set_xlabel("alpha")
    ax.set_ylabel("beta")
    ax.set_zlabel(_label(metric, log))
    ax.view_init(elev=elev, azim=azim)
    _note(ax, surface_note(result, metric, log))
    _title(ax, title, int(bad.sum()))
    return fig, ax


def compare_surfaces(results, titles, metric: str = "loss", kind: str = "contour", log: bool = False,
                     trajectories=None, suptitle=None):
    """Surfaces side by side on one colour scale, so equal colours mean equal values."""
    if kind not in ("contour", "heatmap"):
        raise ValueError(f"kind must be 'contour' or 'heatmap', got {kind!r}")
    for r in results:
        _need_ndim(r, 2, "compare_surfaces")
    lim = color_limits([finite_values(r, metric, log)[0] for r in results])
    vmin, vmax = lim if lim else (None, None)
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
    """The three views of one plane in a row: 3-D surface, contour (with paths), heatmap, on one colour scale
    (the same value has the same colour in all three)."""
    lim = color_limits([finite_values(result, metric, log)[0]])
    vmin, vmax = lim if lim else (None, None)
    fig = plt.figure(figsize=(15, 4.3))
    ax3 = fig.add_subplot(1, 3, 1, projection="3d")
    plot_surface3d(result, metric, ax=ax3, log=log, title="3-D surface", vmin=vmin, vmax=vmax)
    plot_contour(result, metric, trajectories, ax=fig.add_subplot(1, 3, 2), log=log, title="contour",
                 vmin=vmin, vmax=vmax)
    plot_heatmap(result, metric, ax=fig.add_subplot(1, 3, 3), log=log, title="heatmap", vmin=vmin, vmax=vmax)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig, fig.axes
