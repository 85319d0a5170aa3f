"""Replay memory (경험 리플레이): a ring buffer of transitions, drawn uniformly with replacement."""
from __future__ import annotations

import numpy as np
import torch


class ReplayBuffer:
    """The transitions of R runs, one ring buffer per run, all in one (R, capacity, columns) float32
    array (obs, action, reward, next obs, terminated), so a batch for every run is one indexing."""

    def __init__(self, capacity: int, runs: int = 1, obs_dim: int = 4):
        if capacity < 1 or runs < 1:
            raise ValueError(f"capacity and runs must be >= 1, got {capacity}, {runs}")
        self.capacity, self.runs, self.obs_dim, self.size, self.pos = capacity, runs, obs_dim, 0, 0
        self.data = np.zeros((runs, capacity, 2 * obs_dim + 3), np.float32)
        self._rows = np.arange(runs)[:, None]

    def add(self, obs, actions, rewards, next_obs, terminated) -> None:
        """One transition per run: ``obs`` (R, obs_dim), ``actions`` (R,), ..."""
        d, i = self.obs_dim, self.pos
        row = self.data[:, i]
        row[:, :d], row[:, d], row[:, d + 1] = obs, actions, rewards
        row[:, d + 2:2 * d + 2], row[:, 2 * d + 2] = next_obs, terminated
        self.pos = (self.pos + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def __len__(self) -> int:
        return self.size

    @property
    def obs(self) -> np.ndarray:
        """The stored observations, (R, capacity, obs_dim) (a view)."""
        return self.data[..., :self.obs_dim]

    def recent_index(self, n: int) -> np.ndarray:
        """Positions of the ``n`` most recent transitions, oldest first."""
        n = min(n, self.size)
        return (self.pos - n + np.arange(n)) % self.capacity

    def gather(self, idx: np.ndarray, rows=None) -> dict[str, torch.Tensor]:
        """Transitions at positions ``idx`` (R, B) of each run's own buffer, as (R, B, ...) tensors
        (or of the runs ``rows`` only)."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        r = self._rows if rows is None else rows
        t, d = torch.from_numpy(self.data[r, idx]), self.obs_dim
        return {"obs": t[..., :d], "actions": t[..., d].long(), "rewards": t[..., d + 1],
                "next_obs": t[..., d + 2:2 * d + 2], "terminated": t[..., 2 * d + 2]}

    def latest(self, n: int, run: int = 0) -> dict[str, torch.Tensor]:
        """Run ``run``'s ``n`` most recent transitions, oldest first (a fixed batch for TD-loss surfaces)."""
        return {k: v.clone() for k, v in self.gather(self.recent_index(n), rows=run).items()}
