"""Notebook 01's larger pictures, kept out of its cells: the plane in three views, the overshooting step
with its parabola, sharpness against the stability limit, and real-valued ticks on a log axis."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter, LogLocator

from ..plots import color_limits, finite_values, plot_contour, plot_heatmap, plot_line, plot_surface3d
from ..report import fmt
from .figures import run_color


def real_log_ticks(ax, axis: str = "y") -> None:
    """A log axis ticked at 1, 2, 5 x 10^k and labelled in plain numbers (0.1, 0.2, 0.5, ...), not 10^k."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def plane_views(plane, log: bool = True, suptitle: str | None = None):
    """The 3-D view large on top, the contour and the heatmap below, one colour scale for all three."""
    lim = color_limits([finite_values(plane, "loss", log)[0]])
    vmin, vmax = lim if lim else (None, None)
    fig = plt.figure(figsize=(11, 9.5))
    grid = fig.add_gridspec(2, 2, height_ratios=(1.15, 1))
    plot_surface3d(plane, ax=fig.add_subplot(grid[0, :], projection="3d"), log=log, title="3-D surface",
                   vmin=vmin, vmax=vmax)
    plot_contour(plane, ax=fig.add_subplot(grid[1, 0]), log=log, title="contour", vmin=vmin, vmax=vmax)
    plot_heatmap(plane, ax=fig.add_subplot(grid[1, 1]), log=log, title="heatmap", vmin=vmin, vmax=vmax)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def overshoot_figure(shoot, near, lam: float, limit: float, clip: bool, label: str = "v1"):
    """The step from one checkpoint along -g (left: the whole raw step; right: zoomed on the valley), the
    parabola from |g| and the curvature λ, its limit 2|g|/λ and where the raw and clipped steps land.
    The legend sits below the panels, never over the curves."""
    parabola = lambda t: shoot.start_loss - shoot.grad_norm * t + 0.5 * lam * t ** 2
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for ax, res, title in [(axes[0], shoot.line, f"the whole raw step (checkpoint {shoot.index} of {label})"),
                           (axes[1], near, "zoomed: the valley, the parabola and its limit")]:
        t = res.alphas
        plot_line(res, ax=ax, log=True, xlabel="distance moved along -g", title=title)
        ax.lines[0].set(color="#444444", markeredgecolor="#444444", label=f"the loss along -g (from {label})")
        ok = parabola(t) > 0
        ax.plot(t[ok], parabola(t)[ok], "--", color="gray", label=f"parabola from |g| = {fmt(shoot.grad_norm, 1)}, λ = {fmt(lam, 1)}")
        if np.isfinite(limit):
            ax.axvline(limit, color="gray", linestyle=":", label=f"the parabola's limit 2|g|/λ = {fmt(limit, 2)}")
        ax.plot(0, shoot.start_loss, "ko", markersize=8, label=f"start ({fmt(shoot.start_loss)})")
        if shoot.raw_step <= t[-1]:
            ax.plot(shoot.raw_step, shoot.raw_loss, "v", color=run_color("v1"), markersize=11,
                    label=f"raw step lands ({fmt(shoot.raw_loss)})")
        if clip:
            ax.plot(shoot.clipped_step, shoot.clipped_loss, "^", color=run_color("v2"), markersize=11,
                    label=f"clipped step lands ({fmt(shoot.clipped_loss)})")
        real_log_ticks(ax)
    seen = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    fig.legend(list(seen.values()), list(seen), loc="lower center", ncol=3, bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    return fig


def sharpness_figure(sharp: dict, limits: dict, measured: dict):
    """λ₁ at checkpoints against each run's stability limit (left; the axis stops a little above the
    largest λ₁, so a limit far above it does not squash the curves) and the whole-set loss meanwhile (right)."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    top = 5 * max(float(np.nanmax(lam)) for _, lam in sharp.values())
    for label, (steps, lam) in sharp.items():
        c = run_color(label)
        axes[0].plot(steps, np.maximum(lam, 1e-6), "o-", color=c, markersize=4, label=f"{label}: λ₁")
        lim_steps, lim = limits[label]
        axes[0].plot(lim_steps, lim, ":", color=c, linewidth=1.5, label=f"{label}: its limit")
    axes[0].set(yscale="log", ylim=(None, top), xlabel="step", ylabel="top Hessian eigenvalue λ₁",
                title="sharpness against the stability limit")
    for label, m in measured.items():
        axes[1].plot(m["steps"], m["losses"], "o-", color=run_color(label), markersize=4, label=label)
    axes[1].set(yscale="log", xlabel="step", ylabel="loss on the whole training set", title="what the loss does meanwhile")
    for ax in axes:
        real_log_ticks(ax)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3)
    axes[1].legend(fontsize="small")
    fig.tight_layout()
    return fig


def deep_figure(norms: dict, depths, by_depth: dict, losses: dict, moved: dict, steps: int):
    """Section 5 in four panels: per-layer gradient norms at initialisation (top left), the whole gradient
    at initialisation against depth (top right), the training loss (bottom left) and how far each layer's
    weights moved (bottom right); every seed faint, the mean bold, one colour per network."""
    from .figures import layer_bars, seed_curves
    from .lessons import GUESSING

    fig, axes = plt.subplots(2, 2, figsize=(12, 8.4))
    layers = np.arange(1, next(iter(norms.values())).shape[1] + 1)
    seed_curves(axes[0, 0], norms, x=layers, log=True)
    axes[0, 0].set(xlabel="layer (1 = next to the input)", ylabel="weight gradient norm", title="gradient per layer, at initialisation")
    seed_curves(axes[0, 1], by_depth, x=np.asarray(depths), log=True)
    axes[0, 1].set(xlabel="number of layers", ylabel="whole gradient norm", title="ReLU nets at initialisation: gradient against depth")
    seed_curves(axes[1, 0], losses, smooth=10, log=True)
    axes[1, 0].axhline(GUESSING, color="k", linestyle=":", linewidth=1, label="guessing, ln 10")
    axes[1, 0].set(xlabel="step", ylabel="training loss (batch, 10-step mean)", title=f"training, {steps} steps each")
    layer_bars({k: v.mean(0) for k, v in moved.items()}, axes[1, 1], "‖W_end − W_start‖ / ‖W_start‖ (mean)",
               title="how far each layer's weights moved")
    for ax in (axes[0, 0], axes[0, 1], axes[1, 0]):
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig
