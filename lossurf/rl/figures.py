"""Pictures of groups of RL runs: small multiples of learning curves and Q-values, step lengths,
Q against actual returns, frozen-target rounds."""
from __future__ import annotations

import textwrap
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colors as mcolors

from .. import plots
from .measures import SOLVED
from .record import RLRun


V1, V2 = "v1: Huber, no clip", "v2: Huber, clip"      # notebook 2's names for the seed notebooks' v1 and v2

# One colour per configuration across notebooks 2 and 3: v1 (no clipping), v2 (clipping) and v3 (v2 plus an
# LR schedule) keep theirs in both; the ablation's rows are coloured by their ingredients, the loss told apart
# by the figure (notebook 3 draws Huber and MSE separately). Seeds are told apart by marker and dash, never colour.
CONFIG_COLORS = {"v1": "#ff7f0e", "v2": "#1f77b4", "v3": "#2ca02c",
                 "MSE, no clip": "#9467bd", "MSE, clip": "#8c564b",
                 "SGD, Huber, no clip": "#e377c2", "SGD, Huber, clip": "#7f7f7f", "SGD, MSE, no clip": "#bcbd22",
                 "DQN (replay + target)": "#1f77b4", "replay only": "#17becf", "target net only": "#2f4f2f",
                 "neither": "#000000",
                 # interventions: notebook 2's Huber delta sweep, notebook 3's replay and clipping taken apart
                 "Huber δ=10": "#e6ab02", "Huber δ=100": "#1b9e77",
                 "last 64, resampled": "#7570b3", "replay, consecutive": "#d95f02",
                 "neither, clip per transition": "#e7298a"}


SMALL_BUFFER_COLOR = "#66a61e"                         # notebook 3's small-memory run, whatever its size


def small_buffer_label(size: int) -> str:
    """The name of notebook 3's small-memory run: "last 1,000" (coloured ``SMALL_BUFFER_COLOR``)."""
    return f"last {size:,}"


def color(label: str) -> str:
    """The colour of a configuration, by its name: the exact name, else without a ``huber: ``/``mse: ``
    prefix, else its ``v1``/``v2``/``v3`` prefix; grey for a name the mapping does not know."""
    for key in (label, label.split(": ", 1)[-1], label.split(" (")[0], label[:2]):
        if key in CONFIG_COLORS:
            return CONFIG_COLORS[key]
    if label.split(": ", 1)[-1].startswith("last "):              # a small memory ("last 64, resampled" is listed)
        return SMALL_BUFFER_COLOR
    return "0.5"


def seed_style(label: str, k: int) -> dict:
    """The style of seed ``k`` of configuration ``label``: the configuration's colour, the seed's marker and dash."""
    return {**plots.series_style(k), "color": color(label), "markeredgecolor": color(label)}


def seed_curves(groups: dict[str, list[RLRun]], ax, title: str | None = None):
    """Every seed's greedy evaluation return over env steps (thin, its marker) and each group's mean (thick),
    one colour per group."""
    for label, runs in groups.items():
        for k, r in enumerate(runs):
            steps, rets = zip(*r.evals)
            ax.plot(steps, rets, linewidth=0.8, alpha=0.55, markersize=3, **seed_style(label, k))
        steps = [s for s, _ in runs[0].evals]
        ax.plot(steps, np.mean([[v for _, v in r.evals] for r in runs], 0), color=color(label), linewidth=2.6, linestyle="-",
                label=f"{label}: mean of {len(runs)} seeds (thin: each)")
    ax.axhline(SOLVED, color="0.3", linewidth=0.8, linestyle=":", label=f"solved ({SOLVED})")
    ax.set(xlabel="environment step", ylabel="greedy return (10 selection episodes)", ylim=(0, 520))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)   # below, off the data
    if title:
        ax.set_title(title)
    return ax


class Windows(NamedTuple):
    """Window maxima of a series: each window's end (updates so far) and its largest value."""
    ends: np.ndarray
    maxima: np.ndarray


def window_max(values, width: int = 256) -> Windows:
    """The max of each window of ``width`` updates, the last window holding what is left (so every value
    is in a window and a spike is never smoothed away); a value that is not finite (an overflow: inf or
    NaN) counts as inf. Returns (x, max), x the number of updates up to each window's end."""
    v = np.asarray(values, dtype=float).reshape(-1)
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    starts = np.arange(0, len(v), width)
    if not len(v):
        return Windows(starts, np.zeros(0))
    return Windows(np.minimum(starts + width, len(v)), np.maximum.reduceat(np.where(np.isfinite(v), v, np.inf), starts))


def run_grid(groups: dict[str, list[RLRun]], *, gamma: float, random_mean: float | None = None, ncols: int | None = None,
             suptitle: str | None = None):
    """Small multiples, one column per group: greedy evaluation return per seed over env steps (top) and
    the max per-state |Q| per window of updates (bottom, log scale, with the honest limit 1/(1-gamma))."""
    n = len(groups)
    fig, axes = plt.subplots(2, n, figsize=(2.6 * n + 1, 5.6), sharey="row", squeeze=False)
    q_limit = 1 / (1 - gamma)
    for j, (label, runs) in enumerate(groups.items()):
        top, bottom = axes[0, j], axes[1, j]
        for k, r in enumerate(runs):
            st = seed_style(label, k)
            steps, rets = zip(*r.evals) if r.evals else ((), ())
            top.plot(steps, rets, markersize=4, linewidth=1.2, label=f"seed {r.seed}", **st)
            x, q = window_max(r.q_max)
            bottom.plot(x, q, linewidth=1.2, label=f"seed {r.seed}",
                        **{**st, "marker": None})
        top.axhline(SOLVED, color="0.3", linewidth=0.8, linestyle=":")
        if random_mean is not None:
            top.axhline(random_mean, color=plots.DIVERGED, linewidth=0.8, linestyle="--")
        bottom.axhline(q_limit, color="0.3", linewidth=0.8, linestyle=":")
        bottom.set_yscale("log")
        top.set_title(label, fontsize=9)
        top.set_ylim(0, 520)
        top.set_xlabel("env step")
        bottom.set_xlabel("update")
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
            ax.ticklabel_format(axis="x", style="sci", scilimits=(3, 3))
    axes[0, 0].set_ylabel("greedy return\n(10 selection episodes)")
    axes[1, 0].set_ylabel("max per-state |Q|\n(per 256 updates)")
    handles = [plt.Line2D([], [], color="0.3", linestyle=plots.TRAJ_LINESTYLES[k % len(plots.TRAJ_LINESTYLES)],
                          marker=plots.TRAJ_MARKERS[k % len(plots.TRAJ_MARKERS)], markerfacecolor="none")
               for k in range(max(len(rs) for rs in groups.values()))]
    labels = [f"seed {r.seed}" for r in max(groups.values(), key=len)]
    extra = [plt.Line2D([], [], color="0.3", linestyle=":", linewidth=0.8),
             plt.Line2D([], [], color=plots.DIVERGED, linestyle="--", linewidth=0.8)]
    fig.legend(handles + extra, labels + [f"top: solved ({SOLVED}); bottom: honest limit 1/(1-γ) = {q_limit:.0f}",
                                          "random policy" + (f" ({random_mean:.1f})" if random_mean is not None else "")],
               loc="lower center", ncol=len(handles) + 2, frameon=False, bbox_to_anchor=(0.5, -0.02))
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig, axes


def per_seed_dots(groups: dict[str, list[RLRun]], *, gamma: float, random_mean: float | None = None,
                  suptitle: str | None = None):
    """One column per configuration, one marker per seed: the largest per-state |Q| (top, log scale, with
    the honest limit and the blow-up line 10/(1-gamma)) and the late learning curve (bottom). For sweeps
    and interventions, where every seed's outcome matters more than the curves. A prefix that every
    label shares ("mse: ") is left to the title."""
    from .measures import late_mean

    labels = list(groups)
    prefixes = {lab.split(": ", 1)[0] for lab in labels if ": " in lab}
    shared = next(iter(prefixes)) + ": " if len(prefixes) == 1 and all(": " in lab for lab in labels) else ""
    fig, axes = plt.subplots(2, 1, figsize=(max(7.5, 1.5 * len(labels) + 3.5), 6.4), sharex=True)
    for i, label in enumerate(labels):
        for k, r in enumerate(groups[label]):
            st = {**seed_style(label, k), "linestyle": "none", "markersize": 7}
            x = i + (k - (len(groups[label]) - 1) / 2) * 0.08
            axes[0].plot([x], [r.max_abs_q], **st)
            axes[1].plot([x], [late_mean(r)], **st)
    limit = 1 / (1 - gamma)
    axes[0].axhline(limit, color="0.3", linestyle=":", linewidth=0.9, label=f"honest limit 1/(1-γ) = {limit:.0f}")
    axes[0].axhline(10 * limit, color="k", linestyle="-.", linewidth=0.9, label=f"blow-up line 10/(1-γ) = {10 * limit:.0f}")
    axes[0].set(yscale="log", ylabel="max per-state |Q|\nover training (reward units)")
    axes[1].axhline(SOLVED, color="0.3", linestyle=":", linewidth=0.9, label=f"solved ({SOLVED})")
    if random_mean is not None:
        axes[1].axhline(random_mean, color=plots.DIVERGED, linestyle="--", linewidth=0.9,
                        label=f"random policy ({random_mean:.1f})")
    axes[1].set(ylim=(0, 520), ylabel="late curve: mean greedy\nreturn, last half (steps)")
    axes[1].set_xticks(range(len(labels)), [textwrap.fill(lab[len(shared):], 16) for lab in labels], fontsize=9)
    axes[1].set_xlim(-0.6, len(labels) - 0.4)
    seeds = [plt.Line2D([], [], markersize=7, **{**plots.series_style(k), "linestyle": "none", "color": "0.3",
                                                   "markeredgecolor": "0.3"})
             for k in range(max(len(rs) for rs in groups.values()))]
    seed_labels = [f"seed {r.seed}" for r in max(groups.values(), key=len)]
    for ax in axes:
        ax.grid(alpha=0.3, axis="y")
        handles, names = ax.get_legend_handles_labels()
        extra = (seeds, seed_labels) if ax is axes[0] else ([], [])
        ax.legend(extra[0] + handles, extra[1] + names, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1),
                  frameon=False)
    if suptitle:
        fig.suptitle(suptitle + " (colour: configuration; marker: seed)")
    fig.tight_layout()
    return fig, axes


def step_lengths(groups: dict[str, list[RLRun]], ax=None, title: str | None = None):
    """The length of every parameter update ||Δθ|| per group: median (dot) and 5-95% range (bar),
    pooled over seeds, on a log axis."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.5 * len(groups) + 1.5))
    labels = list(groups)
    for i, label in enumerate(labels):
        s = np.concatenate([np.asarray(r.step) for r in groups[label]])
        s = s[np.isfinite(s) & (s > 0)]
        if not len(s):
            continue
        lo, med, hi = np.percentile(s, [5, 50, 95])
        ax.plot([lo, hi], [i, i], color=color(label), linewidth=3, alpha=0.6, linestyle="-")
        ax.plot([med], [i], "o", color=color(label))
        ax.annotate(f"{med:.3g}", (med, i), textcoords="offset points", xytext=(0, -12), ha="center", fontsize=8)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("parameter step per update ||Δθ|| (median, 5-95%)")
    ax.grid(alpha=0.3, axis="x")
    if title:
        ax.set_title(title)
    return ax.figure, ax


def predicted_vs_actual_panels(checks: dict[str, dict], seed: int):
    """One panel per network: |max_a Q(s, a)| against the discounted return that actually followed each
    visited state (``diagnostics.predicted_vs_actual``), with the line Q = return; log scale when Q
    overshoots the returns tenfold."""
    fig, axes = plt.subplots(1, len(checks), figsize=(5.5 * len(checks), 4.2), squeeze=False)
    for ax, (label, c) in zip(axes[0], checks.items()):
        ax.scatter(c["actual"], np.abs(c["predicted"]), s=6, alpha=0.4, color=color(label), label="states")
        hi = max(float(c["actual"].max()), 1.0)
        line = np.linspace(min(1.0, hi), hi, 50)      # from 1, not 0, so the line shows on a log axis too
        ax.plot(line, line, color="k", linestyle="--", linewidth=1.5, label="Q = actual return")
        ax.set(xlabel="actual discounted return from the state (reward units)", ylabel="|max_a Q(s, a)| (reward units)",
               title=f"{label}, seed {seed}, best network")
        if np.abs(c["predicted"]).max() > 10 * hi:
            ax.set_yscale("log")
        ax.legend(fontsize=9)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _round_panel(ax, rounds: dict, k: int, lo: float, hi: float):
    s = rounds["surfaces"][k]
    plots.plot_contour(s, log=True, ax=ax, vmin=lo, vmax=hi, colorbar=False, mark_center=False, levels=20)
    path = rounds["path"][rounds["path_updates"] <= rounds["updates"][k]]
    ax.plot(path[:, 0], path[:, 1], color="white", linewidth=1.0, alpha=0.8, label="path so far")
    lx, ly = rounds["lowest"][k]
    ax.plot([lx], [ly], "*", markersize=16, markerfacecolor=plots.DIVERGED, markeredgecolor="white", zorder=6,
            label="lowest point")
    x, y = rounds["online"][k]        # drawn above the star (and smaller), so both show when they coincide
    ax.plot([x], [y], "o", markersize=6, markerfacecolor="white", markeredgecolor="k", zorder=7,
            label="online weights now")
    ax.set_title(f"update {rounds['updates'][k]}\ntargets from update {rounds['targets'][k]}", fontsize=9)
    ax.set_xlabel("")
    ax.set_ylabel("")


def rounds_grid(rows: dict[str, dict], columns=None, suptitle: str | None = None):
    """Small multiples: one row per agent, one column per moment; each panel the TD loss with the
    targets frozen at that moment (log colour, one scale per row), the online weights and the path."""
    cols = list(range(len(next(iter(rows.values()))["updates"]))) if columns is None else list(columns)
    fig, axes = plt.subplots(len(rows), len(cols), figsize=(2.55 * len(cols) + 1.2, 2.9 * len(rows) + 0.8),
                             squeeze=False, layout="constrained")
    for i, (label, rounds) in enumerate(rows.items()):
        lo, hi = _row_limits(rounds)
        for j, k in enumerate(cols):
            _round_panel(axes[i, j], rounds, k, lo, hi)
            axes[i, j].tick_params(labelsize=7)
        axes[i, 0].set_ylabel(f"{label}\n2nd principal direction", fontsize=9)
        sm = plt.cm.ScalarMappable(mcolors.Normalize(lo, hi), plots.CMAP)
        cb = fig.colorbar(sm, ax=axes[i, :].tolist(), shrink=0.9)
        cb.set_label("TD loss (log scale)")
        plots.log_colorbar(cb, lo, hi)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    handles[labels.index("path so far")] = plt.Line2D([], [], color="0.5", linewidth=1.5)   # white on white otherwise
    fig.legend(handles, labels, loc="outside lower center", ncol=3, frameon=False)
    fig.supxlabel("position along the row's 1st principal direction (parameter-space units of its own path)", fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    return fig, axes


def _row_limits(rounds: dict) -> tuple[float, float]:
    """log10 of the smallest and largest finite TD loss over all of a row's panels."""
    v = np.concatenate([s.values["loss"].ravel() for s in rounds["surfaces"]])
    v = v[np.isfinite(v) & (v > 0)]
    lo, hi = (float(np.log10(v.min())), float(np.log10(v.max()))) if len(v) else (0.0, 1.0)
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def rounds_gif(rows: dict[str, dict], path, fps: float = 2.0) -> None:
    """The same panels as an animation, one frame per moment, the agents side by side (a GIF)."""
    from matplotlib.animation import FuncAnimation, PillowWriter

    n = len(next(iter(rows.values()))["updates"])
    fig, axes = plt.subplots(1, len(rows), figsize=(4.2 * len(rows), 4.2), squeeze=False, layout="constrained")
    limits = {label: _row_limits(r) for label, r in rows.items()}

    def frame(k):
        for ax, (label, rounds) in zip(axes[0], rows.items()):
            ax.clear()
            _round_panel(ax, rounds, k, *limits[label])
            ax.set_title(f"{label}\nupdate {rounds['updates'][k]}, targets from update {rounds['targets'][k]}",
                         fontsize=9)
        return []

    FuncAnimation(fig, frame, frames=n).save(str(path), writer=PillowWriter(fps=fps), dpi=80)
    plt.close(fig)


def schedule_panels(scheduled: list[RLRun], baseline: list[RLRun], steps, cfg, min_lr: float, schedule: str,
                    baseline_label: str):
    """Left: the scheduled runs' learning rate per episode (a star where each seed first reaches ``min_lr``,
    for ``decay_floor``); right: their greedy return against the baseline's, with a line where each seed's
    learning rate reached its floor. ``cfg`` gives the update timing (``learning_starts``, ``train_freq``)."""
    def at_floor(lr):
        return np.flatnonzero(lr <= min_lr * (1 + 1e-6)) if schedule == "decay_floor" else np.array([], int)

    fig, axes = plt.subplots(1, 2, figsize=(14, 3.8), gridspec_kw={"width_ratios": [1, 1.3]})
    for k, r in enumerate(scheduled):
        ends = np.asarray(r.episode_ends)
        lr = np.asarray(r.log.lr)
        upd = np.clip((ends - cfg.learning_starts) // cfg.train_freq, 0, len(lr) - 1)
        axes[0].plot(ends, lr[upd], label=f"seed {r.seed}", **{**seed_style("v3", k), "marker": None})
        first = at_floor(lr[upd])
        if len(first):
            axes[0].plot(ends[first[0]], min_lr, "*", markersize=12, color=color("v3"),
                         markeredgecolor="k", label="each seed reaches the floor" if k == 0 else None)
    axes[0].set(xlabel="environment step", ylabel="learning rate (per update)", title=f"v3's learning rate ({schedule})")
    axes[0].legend(fontsize=7, loc="upper right"); axes[0].grid(alpha=0.3)
    seed_curves({baseline_label: baseline, f"v3: + {schedule}": scheduled}, axes[1], title="v2 against v3, every seed")
    for k, r in enumerate(scheduled):
        hit = at_floor(np.asarray(r.log.lr))
        if len(hit):
            axes[1].axvline(cfg.learning_starts + cfg.train_freq * (hit[0] + 1), color="0.35",
                            linestyle=plots.TRAJ_LINESTYLES[k % len(plots.TRAJ_LINESTYLES)], linewidth=1.2,
                            label=f"v3 seed {r.seed}: LR at its floor")   # test reads these labels
    axes[1].get_legend().remove()
    handles, labels = axes[1].get_legend_handles_labels()
    keep = [i for i, lab in enumerate(labels) if not lab.endswith("LR at its floor")]
    floor = [i for i, lab in enumerate(labels) if lab.endswith("LR at its floor")][:1]
    axes[1].legend([handles[i] for i in keep + floor],
                   [labels[i] for i in keep] + ["v3: its LR reaches the floor (a line per seed)"] * len(floor),
                   fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    plt.tight_layout()
    return fig, axes
