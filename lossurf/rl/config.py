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
  ``replay_window=W`` draws uniformly from the W most recent transitions only: a small first-in-first-out
  memory. Every transition is then drawn about batch_size × W / (train_freq × W) = batch_size / train_freq
  times on average, as without replay and as with the full memory: reuse is the same, while W sets how
  correlated (W near batch_size: consecutive steps) and how old (up to W steps) the samples are.
  ``replay_draw="consecutive"`` takes the batch as one stretch of batch_size consecutive transitions
  starting at a random place in the window: samples as correlated as without replay, as old as with it.
- ``target_network=True``: targets r + γ max Q_target(s') come from a copy of the weights, synced
  every ``target_update`` updates (hard, or Polyak with ``tau`` < 1). ``target_network=False``: the
  targets come from the weights being trained, as they are at that update.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ..schedules import SCHEDULES
from ..training import check_clip_norm, check_lr
from .td import check_delta, check_loss

SCHEDULE_UNITS = ("auto", "episode", "round", "update")

PLATEAU_WINDOW = 10               # "plateau" watches the mean return of a run's last 10 training episodes

OPTIMIZERS = ("adam", "sgd")

REPLAY_DRAWS = ("uniform", "consecutive")   # replay's batch: independent draws, or one stretch of consecutive steps
CLIP_PER = ("batch", "transition")   # clip the update's gradient, or each transition's gradient before averaging


def _marked(scope: str, default=dataclasses.MISSING, factory=dataclasses.MISSING):
    return field(default=default, default_factory=factory, metadata={"scope": scope})


def per_run(default=dataclasses.MISSING, *, factory=dataclasses.MISSING):
    """A setting that may differ between runs trained together in one batch."""
    return _marked("per run", default, factory)


def shared(default=dataclasses.MISSING, *, factory=dataclasses.MISSING):
    """A setting every run of one batch has in common (what the batched computation is built around)."""
    return _marked("shared", default, factory)


def execution(default=dataclasses.MISSING):
    """A setting of how a run is computed that never changes its result (e.g. the thread count)."""
    return _marked("execution", default)


@dataclass
class RLConfig:
    """Every setting of a run, each marked where it is declared: ``per_run`` settings may differ between
    runs trained together in one batch (the ablation's switches, loss, optimiser, clipping, LR and its
    schedule); ``shared`` ones (budget, network, cadence, exploration, evaluation) are the same for every
    run of a batch; ``execution`` ones change how fast, never what is computed."""
    total_steps: int = shared(50_000)              # environment steps
    lr: float = per_run(2.3e-3)
    gamma: float = shared(0.99)
    hidden: tuple = shared((32, 32))               # small enough that 30 runs train in ~2 min on a laptop CPU
    eps_start: float = shared(1.0)
    eps_end: float = shared(0.04)
    eps_steps: int = shared(8_000)                 # linear decay of epsilon over this many env steps
    batch_size: int = shared(64)                   # transitions per update
    buffer_size: int = shared(100_000)             # replay memory size (with replay)
    learning_starts: int = shared(1_000)           # env steps before the first update
    train_freq: int = shared(2)                    # env steps between updates
    gradient_steps: int = shared(1)                # updates each time
    replay: bool = per_run(True)
    target_network: bool = per_run(True)
    target_update: int = per_run(128)              # updates between target syncs (with a target network)
    tau: float = per_run(1.0)                      # 1.0 = hard copy; < 1 = Polyak average at each sync
    replay_window: int | None = per_run(None)      # with replay: draw from the last replay_window transitions only
    replay_draw: str = per_run("uniform")          # with replay: "uniform" (independent draws) or "consecutive"
                                                   # (one run of batch_size consecutive transitions from a random start)
    loss: str = per_run("huber")                   # huber (smooth L1, the Nature DQN's clipped error) or mse
    huber_delta: float = per_run(1.0)              # Huber's delta: each transition's pull on Q is capped at ±delta
    optimizer: str = per_run("adam")               # adam or sgd (plain)
    clip_norm: float | None = per_run(None)        # clip_grad_norm_ threshold per run; None = no clipping
    clip_per: str = per_run("batch")               # what clip_norm clips: the update's gradient ("batch") or
                                                   # each transition's before they are averaged ("transition")
    schedule: str = per_run("constant")            # an LR schedule of lossurf.schedules
    # when the schedule steps: "episode", "round" (target_update updates) or "update";
    # auto = "round" for cosine (it needs a known length), else "episode"
    schedule_unit: str = per_run("auto")
    schedule_every: int = per_run(1)               # units per schedule step
    schedule_kwargs: dict = per_run(factory=dict)  # passed to make_scheduler (e.g. min_lr)
    eval_every: int = shared(5_000)                # env steps between greedy evaluations (best-network selection)
    eval_episodes: int = shared(10)
    test_episodes: int = shared(100)               # fresh episodes for the final and best networks at the end
    checkpoint_every: int = shared(1_024)          # updates between parameter snapshots
    surface_batch: int = shared(2_000)             # recent transitions kept for TD-loss surfaces
    checkpoint_batch: int = shared(0)              # recent transitions kept with each checkpoint (0 = none)
    threads: int | None = execution(None)          # torch threads while training; None = by work size

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
        check_delta(self.huber_delta)
        if self.replay_draw not in REPLAY_DRAWS:
            raise ValueError(f"unknown replay_draw {self.replay_draw!r}; choose one of {', '.join(REPLAY_DRAWS)}")
        if self.clip_per not in CLIP_PER:
            raise ValueError(f"unknown clip_per {self.clip_per!r}; choose one of {', '.join(CLIP_PER)}")
        if self.replay_window is not None:
            if isinstance(self.replay_window, bool) or not isinstance(self.replay_window, (int, np.integer)) \
                    or self.replay_window < self.batch_size:
                raise ValueError(f"replay_window must be None (the whole memory) or an integer >= batch_size "
                                 f"({self.batch_size}), got {self.replay_window!r}")
            if not self.replay:
                raise ValueError("replay_window limits where replay draws from: set replay=True with it (without "
                                 "replay an update already takes the batch_size most recent transitions)")
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


def scope(name: str) -> str:
    """``"per run"``, ``"shared"`` or ``"execution"``: how a field of ``RLConfig`` is marked."""
    return {f.name: f.metadata["scope"] for f in dataclasses.fields(RLConfig)}[name]


PER_RUN = tuple(f.name for f in dataclasses.fields(RLConfig) if f.metadata["scope"] == "per run")


def shared_settings(cfg: RLConfig) -> tuple:
    """The settings runs must share to be trained as one batch (the fields marked ``shared``)."""
    return tuple((f.name, repr(getattr(cfg, f.name))) for f in dataclasses.fields(cfg)
                 if f.metadata.get("scope") == "shared")


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
    total_steps: int = shared(20_000)
    replay: bool = per_run(False)
    target_network: bool = per_run(False)
    batch_size: int = shared(1)
    learning_starts: int = shared(0)
    train_freq: int = shared(1)
    eval_every: int = shared(2_000)
    checkpoint_every: int = shared(500)
