"""Pictures of gradient descent on the bowl: the paths over the bowl's contours beside their losses,
and the same picture with sliders for the learning rate, the clip norm and the schedule."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..plots import CMAP, series_style
from ..progress import progress_enabled
from .bowl import Bowl, Path, check_bowl, descend, regime


def paths_figure(bowl: Bowl, paths: dict[str, Path], title: str | None = None, first_style: int = 0):
    """Left: each path over the bowl's contours (the minimum at the cross), up to where it leaves the
    window. Right: its loss per step on a log axis, where converging is a falling line and diverging a
    rising one. Path k gets style ``first_style + k``, so a run keeps its colour from one figure to the
    next. Returns (fig, axes)."""
    check_bowl(bowl)
    fig, (ax, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.4), layout="constrained")
    # the window holds the start and the bowl's bottom; a diverging path is drawn up to where it leaves
    reach = max(1.5, min(2.5, max(float(np.abs(p.points[0]).max()) for p in paths.values()) * 1.6))
    g = np.linspace(-reach, reach, 201)
    a, b = np.meshgrid(g, g, indexing="xy")
    ax.contour(a, b, bowl.loss(np.stack([a, b], -1)), levels=12, cmap=CMAP, linewidths=0.8)
    ax.plot(0, 0, "k+", markersize=12, markeredgewidth=2)
    for k, (label, p) in enumerate(paths.items()):
        style = series_style(first_style + k)
        inside = np.cumprod(np.all(np.abs(p.points) <= reach, axis=1)).astype(bool)
        ax.plot(p.points[inside, 0], p.points[inside, 1], label=label, markersize=4, linewidth=1.2, **style)
        positive = np.where(p.losses > 0, p.losses, np.nan)             # an exact 0 has no place on a log axis
        ax_loss.semilogy(np.arange(len(p.losses)), positive, label=label, markersize=3,
                         markevery=max(1, len(positive) // 30), **style)
    ax.set(xlabel=f"θ₁ (steep axis, λ₁ = {bowl.lam1:g})", ylabel=f"θ₂ (shallow axis, λ₂ = {bowl.lam2:g})",
           xlim=(-reach, reach), ylim=(-reach, reach), aspect="equal")
    ax_loss.set(xlabel="step", ylabel="loss f(θ) (log scale)")
    ax_loss.grid(alpha=0.3)
    ax_loss.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    if title:
        fig.suptitle(title)
    return fig, (ax, ax_loss)


def explore(bowl: Bowl = Bowl(), lr: float = 0.15, clip_norm: float | None = None, schedule: str = "constant",
            steps: int = 30, start=(1.0, 1.0), style: int = 0):
    """Gradient descent on the bowl with sliders for the learning rate, the clip norm (0 = off) and the
    schedule, redrawn as they move (``style``: the path's colour index, to match an earlier figure). Run headless (the tests and the series runner set LOSSURF_PROGRESS=0),
    it draws the picture for the given values and makes no widget, so the stored notebook holds none."""
    def draw(lr=lr, clip=clip_norm or 0.0, schedule=schedule):
        path = descend(bowl, start, lr, steps, clip or None, schedule)
        label = (f"η = {lr:.3g}" + (f", clip {clip:g}" if clip else "")
                 + ("" if schedule == "constant" else f", {schedule}"))
        fig, _ = paths_figure(bowl, {label: path}, f"{label}; without cures η {lr:.3g} {regime(bowl, lr)} "
                                                   f"(1/λ₁ = {1 / bowl.lam1:.3g}, 2/λ₁ = {2 / bowl.lam1:.3g})",
                              first_style=style)
        plt.show()
    if not progress_enabled():
        return draw()
    import ipywidgets as w
    return w.interact(draw, lr=w.FloatSlider(value=lr, min=0.01, max=2.5 / bowl.lam1, step=0.005, readout_format=".3f"),
                      clip=w.FloatSlider(value=clip_norm or 0.0, min=0.0, max=5.0, step=0.1),
                      schedule=w.Dropdown(options=["constant", "step", "exponential", "cosine", "decay_floor"],
                                          value=schedule))
