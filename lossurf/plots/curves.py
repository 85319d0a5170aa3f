"""Pictures of training: curves over steps, a mean with its spread over seeds, per-layer gradient norms, sample digits."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .theme import _ax, _finish, series_style


def plot_curves(series: dict, ylabel: str, ax=None, log: bool = False, hline=None, hline_label=None,
                smooth: int = 1, xlabel: str = "step", title=None):
    """Several training curves (``{label: values}``, each its own colour and dash pattern, so a curve
    under another still shows), optionally smoothed, with a threshold line."""
    fig, ax = _ax(ax, figsize=(6, 3.6))
    for k, (label, v) in enumerate(series.items()):
        v = np.asarray(v, dtype=float)
        st = series_style(k)
        line = {"color": st["color"], "linestyle": st["linestyle"], "zorder": st["zorder"],
                "linewidth": 1.8 if k == 0 else 1.4}
        if smooth > 1 and len(v) >= smooth:
            ax.plot(v, color=st["color"], linestyle="-", alpha=0.2, linewidth=0.7, zorder=1)   # raw, faint
            kernel = np.ones(smooth) / smooth
            v_s = np.convolve(np.where(np.isfinite(v), v, np.nan), kernel, mode="valid")
            ax.plot(np.arange(smooth - 1, len(v)), v_s, label=label, **line)
        else:
            ax.plot(v, label=label, **line)
    _finish(ax, xlabel, ylabel, hline, hline_label, log, title)
    return fig, ax


def show_digits(x, y, n: int = 10, title: str | None = None):
    """The first ``n`` images with their labels (x flattened 784 or 1x28x28, normalised)."""
    fig, axes = plt.subplots(1, n, figsize=(1.1 * n, 1.5))
    for i, ax in enumerate(axes):
        ax.imshow(np.asarray(x[i]).reshape(28, 28), cmap="gray_r")
        ax.set_title(str(int(y[i])))
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig, axes


def plot_layer_norms(norms: dict, ax=None, title=None):
    """Per-layer gradient norms (first layer on the left), one line per network, log scale."""
    fig, ax = _ax(ax, figsize=(6, 3.6))
    for k, (label, v) in enumerate(norms.items()):
        ax.plot(np.arange(1, len(v) + 1), np.maximum(v, 1e-30), label=label, markersize=5, **series_style(k))
    _finish(ax, "layer (1 = next to the input)", "weight gradient norm", log=True, title=title)
    return fig, ax


def plot_mean_spread(x, series: dict, ylabel: str, ax=None, xlabel: str = "environment step", hline=None,
                     hline_label=None, log: bool = False, title=None):
    """Mean over seeds (line; each series its own dash pattern, so equal means stay visible) and min-max
    spread (band) of each ``{label: array (seeds, len(x))}``."""
    fig, ax = _ax(ax, figsize=(6, 3.6))
    for k, (label, ys) in enumerate(series.items()):
        ys = np.asarray(ys, dtype=float)
        st = series_style(k)
        ax.plot(x, ys.mean(0), color=st["color"], linestyle=st["linestyle"], zorder=st["zorder"],
                label=f"{label} (mean of {len(ys)})", linewidth=2.4 if k == 0 else 1.6)
        ax.fill_between(x, ys.min(0), ys.max(0), color=st["color"], alpha=0.18, linewidth=0)
    _finish(ax, xlabel, ylabel, hline, hline_label, log, title)
    return fig, ax
