"""One look for every figure: the colour map, the colours, line styles and markers of runs, sizes made for GitHub's 900 px."""
from __future__ import annotations

import matplotlib.pyplot as plt

CMAP = "viridis"


DIVERGED = "#d62728"


FIGSIZE = (5.2, 4.2)


TRAJ_COLORS = ("#ff7f0e", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")


TRAJ_LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2)))


TRAJ_MARKERS = ("o", "^", "D", "v", "h", "X")   # no square or star: those mark starts and ends


DISPLAY_PX = 900      # the width GitHub shows a notebook's or README's figure at


MIN_TEXT_PX = 10      # the smallest text, in px at that width


RENDER_DPI = 150      # PNG resolution ...


MAX_PX = 1800         # ... capped at twice the display width


FIGURE_DPI = 72       # matplotlib's figure.dpi: only the "<Figure size WxH>" text of stored outputs uses it


def series_style(k: int, hollow: bool = True) -> dict:
    """Colour, dash pattern and marker of series ``k``: two series never look alike even when one
    hides under the other (use with ``ax.plot(..., **series_style(k))``)."""
    c = TRAJ_COLORS[k % len(TRAJ_COLORS)]
    return {"color": c, "linestyle": TRAJ_LINESTYLES[k % len(TRAJ_LINESTYLES)],
            "marker": TRAJ_MARKERS[k % len(TRAJ_MARKERS)], "markerfacecolor": "none" if hollow else c,
            "markeredgecolor": c, "zorder": 2 + 0.1 * k}


def _ax(ax=None, projection=None, figsize=FIGSIZE):
    if ax is not None:
        return ax.figure, ax
    fig = plt.figure(figsize=figsize)
    return fig, fig.add_subplot(projection=projection)


def _label(metric: str, log: bool) -> str:
    return f"{metric} (log scale)" if log else metric


def _finish(ax, xlabel, ylabel, hline=None, hline_label=None, log=False, title=None):
    """Threshold line, log scale, labels, grid, legend and title of a curve plot."""
    if hline is not None:
        ax.axhline(hline, color="k", linestyle=(0, (2, 2)), linewidth=1, label=hline_label, zorder=1.5)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
