"""What a Q-learning run is: its network, its settings, its replay memory and what it records.

One family covers both agents of the series, so that an ablation changes one switch and nothing else:

- **Q-Network** (online neural Q-learning): no replay, no target network, one update per env step on
  the transition just seen.
- **DQN** (Mnih et al. 2015): replay memory (경험 리플레이) + target network (타깃 네트워크).

The definitions the switches use (the same budget either way):

- ``replay=True``: every update learns from ``batch_size`` transitions drawn uniformly, with
  replacement, from everything in the memory (up to ``buffer_size``). ``replay=False``: every update
  learns from the ``batch_size`` most recent transitions, in the order they were experienced, and
  nothing older: the same number of updates and samples per update, without the memory.
- ``target_network=True``: targets r + γ max Q_target(s') come from a copy of the weights, synced
  every ``target_update`` updates (hard, or Polyak with ``tau`` < 1). ``target_network=False``: the
  targets come from the weights being trained, as they are at that update.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn

from ..schedules import SCHEDULES
from ..training import TrainLog, check_clip_norm, check_lr
from .td import check_loss, td_target

SCHEDULE_UNITS = ("auto", "episode", "round", "update")
PLATEAU_WINDOW = 10               # "plateau" watches the mean return of a run's last 10 training episodes
OPTIMIZERS = ("adam", "sgd")


def q_network(hidden=(32, 32), obs_dim: int = 4, n_actions: int = 2) -> nn.Sequential:
    """An MLP from observation to one Q-value per action (4-32-32-2 ReLU by default)."""
    layers, size = [], obs_dim
    for h in hidden:
        layers += [nn.Linear(size, h), nn.ReLU()]
        size = h
    layers.append(nn.Linear(size, n_actions))
    return nn.Sequential(*layers)


def td_targets(target_model: nn.Module, rewards, next_obs, terminated, gamma: float) -> torch.Tensor:
    """r + gamma * max_a' Q(s', a'), with no bootstrap past a terminal state (truncation bootstraps)."""
    with torch.no_grad():
        return td_target(rewards, terminated, target_model(next_obs), gamma)


@dataclass
class RLConfig:
    """Every setting of a run. Fields in ``PER_RUN`` may differ between runs trained together; the
    others (budget, network, cadence, exploration, evaluation) are shared by construction."""
    total_steps: int = 50_000         # environment steps
    lr: float = 2.3e-3
    gamma: float = 0.99
    hidden: tuple = (32, 32)          # small enough that 30 runs train in ~2 min on a laptop CPU
    eps_start: float = 1.0
    eps_end: float = 0.04
    eps_steps: int = 8_000            # linear decay of epsilon over this many env steps
    batch_size: int = 64              # transitions per update
    buffer_size: int = 100_000        # replay memory size (with replay)
    learning_starts: int = 1_000      # env steps before the first update
    train_freq: int = 2               # env steps between updates
    gradient_steps: int = 1           # updates each time
    replay: bool = True
    target_network: bool = True
    target_update: int = 128          # updates between target syncs (with a target network)
    tau: float = 1.0                  # 1.0 = hard copy; < 1 = Polyak average at each sync
    loss: str = "huber"               # huber (smooth L1, the Nature DQN's clipped error) or mse
    optimizer: str = "adam"           # adam or sgd (plain)
    clip_norm: float | None = None    # clip_grad_norm_ threshold per run; None = no clipping
    schedule: str = "constant"        # an LR schedule of lossurf.schedules
    schedule_unit: str = "auto"       # when the schedule steps: "episode", "round" (target_update updates),
                                      # "update"; auto = "round" for cosine (it needs a known length), else "episode"
    schedule_every: int = 1           # units per schedule step
    schedule_kwargs: dict = field(default_factory=dict)   # passed to make_scheduler (e.g. min_lr)
    eval_every: int = 5_000           # env steps between greedy evaluations (best-network selection)
    eval_episodes: int = 10
    test_episodes: int = 100          # fresh episodes for the final and best networks at the end
    checkpoint_every: int = 1_024     # updates between parameter snapshots
    surface_batch: int = 2_000        # recent transitions kept for TD-loss surfaces
    checkpoint_batch: int = 0         # recent transitions kept with each checkpoint (0 = none)
    threads: int | None = None        # torch threads while training; None = by work size (results do not depend on it)

    def check(self) -> None:
        """Clear errors for settings that cannot run."""
        check_clip_norm(self.clip_norm)
        check_lr(self.lr)
        if not 0 <= self.gamma < 1:
            raise ValueError(f"gamma must be in [0, 1), got {self.gamma}")
        for name in ("total_steps", "batch_size", "buffer_size", "train_freq", "gradient_steps", "target_update",
                     "schedule_every", "eval_every", "eval_episodes", "test_episodes", "checkpoint_every",
                     "surface_batch", "eps_steps"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise ValueError(f"threads must be None (automatic) or an integer >= 1, got {self.threads!r}")
        if self.learning_starts < 0:
            raise ValueError(f"learning_starts must be >= 0, got {self.learning_starts}")
        check_loss(self.loss)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.schedule_unit not in SCHEDULE_UNITS:
            raise ValueError(f"unknown schedule_unit {self.schedule_unit!r}; choose one of {', '.join(SCHEDULE_UNITS)}")
        if self.schedule == "cosine" and self.unit == "episode":
            raise ValueError("the cosine schedule needs a run of known length: schedule_unit 'round' or 'update', "
                             "not 'episode' (a run's number of episodes is not known in advance)")
        if isinstance(self.checkpoint_batch, bool) or not isinstance(self.checkpoint_batch, int) \
                or self.checkpoint_batch < 0:
            raise ValueError(f"checkpoint_batch must be an integer >= 0, got {self.checkpoint_batch!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown LR schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        if not 0 < self.tau <= 1:
            raise ValueError(f"tau must be in (0, 1], got {self.tau}")
        if self.buffer_size < self.batch_size:
            raise ValueError(f"buffer_size ({self.buffer_size}) must hold at least one batch ({self.batch_size})")
        if not self.replay and self.learning_starts + self.train_freq < self.batch_size:
            raise ValueError(f"without replay an update uses the {self.batch_size} most recent transitions; set "
                             f"learning_starts >= {self.batch_size - self.train_freq} so that many exist")
        if self.updates < 1:
            raise ValueError(f"no update happens: total_steps ({self.total_steps}) must pass learning_starts "
                             f"({self.learning_starts}) by at least train_freq ({self.train_freq})")

    @property
    def unit(self) -> str:
        """The schedule's unit: ``schedule_unit``, with "auto" resolved."""
        if self.schedule_unit != "auto":
            return self.schedule_unit
        return "round" if self.schedule == "cosine" else "episode"

    @property
    def schedule_units(self) -> int | None:
        """How many times the schedule steps in the run (None for episodes: not known in advance)."""
        per = {"update": self.schedule_every, "round": self.schedule_every * self.target_update}.get(self.unit)
        return None if per is None else self.updates // per

    @property
    def updates(self) -> int:
        """The exact number of gradient updates of a run."""
        f = self.train_freq
        return max(0, self.total_steps // f - self.learning_starts // f) * self.gradient_steps


PER_RUN = ("replay", "target_network", "target_update", "tau", "loss", "optimizer", "clip_norm", "lr",
           "schedule", "schedule_unit", "schedule_every", "schedule_kwargs")


def shared_settings(cfg: RLConfig) -> tuple:
    """The settings runs must share to be trained as one batch."""
    return tuple((f.name, repr(getattr(cfg, f.name))) for f in dataclasses.fields(RLConfig)
                 if f.name not in PER_RUN + ("threads",))


@dataclass
class DQNConfig(RLConfig):
    """DQN with replay and a target network: the rl-zoo CartPole-v1 recipe (lr 2.3e-3, batch 64, 100k
    memory, 1,000 warm-up steps, epsilon 1 -> 0.04 over 8,000 steps), with its 128 updates per 256 env
    steps interleaved (one update every 2 steps) and the target synced every 128 updates as in the zoo;
    a 4-32-32-2 network instead of the zoo's 256-256, so that a whole ablation fits a laptop's minutes."""


@dataclass
class QNetConfig(RLConfig):
    """Online Q-learning: one update per env step on the transition just seen, targets from the same
    network. Everything else as DQN."""
    total_steps: int = 20_000
    replay: bool = False
    target_network: bool = False
    batch_size: int = 1
    learning_starts: int = 0
    train_freq: int = 1
    eval_every: int = 2_000
    checkpoint_every: int = 500


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


@dataclass
class RLRun:
    """A finished run: final and best networks, their scores on fresh episodes, and the logs."""
    model: nn.Module                  # final online network
    best_model: nn.Module             # the network with the best greedy evaluation (ties: the later one)
    log: TrainLog                     # per update: TD loss, pre-clip grad norm, clipped, LR
    episode_returns: list = field(default_factory=list)
    episode_ends: list = field(default_factory=list)      # env step at which each episode ended
    evals: list = field(default_factory=list)             # (env step, mean greedy return on selection episodes)
    q_max: list = field(default_factory=list)             # per update: max over the batch's states and actions of |Q|
    step: list = field(default_factory=list)              # per update: length of the parameter step ||Δθ||
    checkpoints: list = field(default_factory=list)       # parameters at update 0, every checkpoint_every, the end
    checkpoint_updates: list = field(default_factory=list)  # the update count of each checkpoint
    checkpoint_batches: list = field(default_factory=list)  # the recent transitions at each checkpoint (optional)
    batch: dict = field(default_factory=dict)             # the final network's last transitions (TD-loss surfaces)
    best_batch: dict = field(default_factory=dict)        # the last transitions when the best network was chosen
    label: str = ""
    seed: int = 0
    config: RLConfig | None = None
    final_test: np.ndarray | None = None                  # returns of the final network on fresh episodes
    best_test: np.ndarray | None = None                   # returns of the best network on the same episodes

    @property
    def max_abs_q(self) -> float:
        """The largest per-state |Q(s, a)| seen in training (an honest Q is at most 1 / (1 - gamma));
        inf when the Q-values overflowed (inf or NaN): the run diverged."""
        if not len(self.q_max):
            return float("nan")
        q = np.abs(np.asarray(self.q_max, dtype=float))
        return float("inf") if not np.all(np.isfinite(q)) else float(q.max())   # overflowed = diverged

    @property
    def best_return(self) -> float:
        """The best mean greedy return of the periodic (selection) evaluations."""
        return max((r for _, r in self.evals), default=float("nan"))
