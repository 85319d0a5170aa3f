"""CartPole drawn from its state with matplotlib (no display, no rendering dependency): the cart, the
pole, the track and the failure limits, for frames of an agent's episode.

CartPole-v1's state is (cart position x, cart velocity, pole angle θ, pole angular velocity); an episode
terminates when |θ| > 12° or |x| > 2.4, and is truncated at 500 steps. Every step alive earns reward 1.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from ..plots import series_style

X_LIMIT = 2.4                     # |x| beyond this terminates an episode
ANGLE_LIMIT = 12 * math.pi / 180  # |θ| beyond this (0.2095 rad) terminates it
POLE_LENGTH = 1.0                 # drawn length (gymnasium's half-length is 0.5)


def draw_state(ax, state, color="#1f77b4", title: str | None = None) -> None:
    """One frame: the track with its ±2.4 limits, the cart at x, the pole at angle θ (red past ±12°)."""
    x, _, theta, _ = (float(v) for v in state)
    failed = abs(theta) > ANGLE_LIMIT or abs(x) > X_LIMIT
    ax.axhline(0, color="0.6", linewidth=1)
    for edge in (-X_LIMIT, X_LIMIT):
        ax.axvline(edge, color="0.75", linestyle=":", linewidth=1)
    ax.add_patch(plt.Rectangle((x - 0.25, -0.08), 0.5, 0.16, color=color, zorder=3))
    tip = (x + POLE_LENGTH * math.sin(theta), 0.08 + POLE_LENGTH * math.cos(theta))
    ax.plot([x, tip[0]], [0.08, tip[1]], color="#d62728" if failed else "0.2", linewidth=3, zorder=4)
    ax.set(xlim=(-3.0, 3.0), ylim=(-0.3, 1.3), aspect="equal", xticks=[], yticks=[])
    if title:
        ax.set_title(title, fontsize=10)


def filmstrip(episodes: dict[str, np.ndarray], frames: int = 6, colors: dict[str, str] | None = None):
    """One row per agent: ``frames`` moments of its episode (its T + 1 states (T + 1, 4), from the start
    to the state the last step reached), evenly spaced, each titled with the steps taken so far (an episode shorter than ``frames`` leaves panels empty).
    A pole past ±12° or a cart past ±2.4 is drawn red: the next step ends the episode. ``colors`` gives
    an agent's cart the colour it has in the notebook's other figures."""
    if not episodes:
        raise ValueError("filmstrip needs at least one episode: {'agent name': states of shape (T, 4)}")
    fig, axes = plt.subplots(len(episodes), frames, figsize=(2.1 * frames, 1.45 * len(episodes) + 0.4),
                             squeeze=False)
    for row, (k, (name, states)) in zip(axes, enumerate(episodes.items())):
        states = np.asarray(states, dtype=float)
        if states.ndim != 2 or states.shape[1] != 4 or not len(states):
            raise ValueError(f"{name}: states must have shape (T, 4) with T >= 1, got {states.shape}")
        moments = np.unique(np.linspace(0, len(states) - 1, frames).round().astype(int))
        for ax, t in zip(row, moments):
            draw_state(ax, states[t], (colors or {}).get(name, series_style(k)["color"]), f"after {t} steps" if t else "start")
        for ax in row[len(moments):]:
            ax.axis("off")
        row[0].set_ylabel(f"{name}\n({len(states) - 1} steps)", fontsize=10)
    fig.tight_layout()
    return fig, axes
