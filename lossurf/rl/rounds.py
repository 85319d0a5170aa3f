"""The surface a Q-learner descends at each moment: the TD loss with its targets frozen at that moment.

With a target network the targets come from a copy synced every ``target_update`` updates, so this
surface is the same for a whole round and changes only at a sync. Without one, the targets come from
the weights being trained, so the surface is a new one after every update. Drawn on one fixed plane
(the plane of the online weights' path), the difference is visible.
"""
from __future__ import annotations

import numpy as np

from ..directions import pca_directions, project
from ..surface import loss_plane, symmetric_axis
from .record import RLRun
from .surfaces import td_objective


def target_of(run: RLRun, update: int) -> int:
    """The update whose weights give the TD targets at ``update``: the last sync, or ``update`` itself."""
    cfg = run.config
    return (update // cfg.target_update) * cfg.target_update if cfg.target_network else update


def checkpoint_at(run: RLRun, update: int):
    """The run's parameters after ``update`` updates (it must have been checkpointed)."""
    try:
        return run.checkpoints[run.checkpoint_updates.index(update)]
    except ValueError:
        raise ValueError(f"no checkpoint at update {update}: this run kept updates every "
                         f"{run.config.checkpoint_every} (set checkpoint_every to a divisor of the panel spacing)")


def round_panels(updates: int, target_update: int, spacing: int, before: int = 3, after: int = 3) -> list[int]:
    """Panel updates around the last sync that leaves ``after`` panels: ``before`` panels in the round
    before it, the sync itself, and ``after - 1`` after it."""
    sync = ((updates - (after - 1) * spacing) // target_update) * target_update
    first = sync - before * spacing
    if first < 0 or sync <= 0:
        raise ValueError(f"a run of {updates} updates is too short for panels {spacing} updates apart around a "
                         f"target sync every {target_update}: train longer")
    return [sync + k * spacing for k in range(-before, after)]


def frozen_target_surfaces(run: RLRun, updates: list[int], *, gamma: float, points: int = 15, batch_size: int = 500,
                           margin: float = 1.5) -> dict:
    """The frozen-target TD loss at each of ``updates``, all on one plane: centred on the online weights
    at the first of them, spanned by the PCA of the online weights over the window.

    The batch is the run's last ``batch_size`` transitions (the window should end near the run's end,
    so the batch comes from the policy being drawn). Returns the surfaces, the online weights' plane
    coordinates at each update, the lowest grid point of each surface, and the updates the targets
    came from.
    """
    window = list(dict.fromkeys(u for u in run.checkpoint_updates if updates[0] <= u <= updates[-1]))
    path = [checkpoint_at(run, u) for u in window]
    center = checkpoint_at(run, updates[0])
    dirs, explained = pca_directions(path, center, n=2)
    coords = project(center, dirs, [checkpoint_at(run, u) for u in updates]).coords
    path_coords = project(center, dirs, path).coords
    reach = margin * float(np.abs(path_coords).max()) or 1.0
    axis = symmetric_axis(reach, points)
    batch = {k: v[-batch_size:] for k, v in run.batch.items()}
    surfaces, lowest, targets = [], [], []
    for u in updates:
        t = target_of(run, u)
        obj = td_objective(run.model, batch, gamma=gamma, target="frozen", target_params=checkpoint_at(run, t), loss=run.config.loss)
        s = loss_plane(obj, center, dirs, axis, axis)
        v = s.values["loss"]
        i, j = np.unravel_index(np.nanargmin(v), v.shape)
        surfaces.append(s), lowest.append((axis[i], axis[j])), targets.append(t)
    return {"updates": list(updates), "surfaces": surfaces, "online": coords, "path": path_coords,
            "path_updates": np.array(window),
            "lowest": np.array(lowest), "targets": targets, "explained": explained, "axis": axis}


def moves(lowest: np.ndarray) -> int:
    """How many times the lowest point changed from one panel to the next."""
    return int(np.sum(np.any(np.diff(lowest, axis=0) != 0, axis=1)))
