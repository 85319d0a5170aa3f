"""Two ways to learn Q-values for CartPole-v1 with the same network, loss and optimiser.

- Q-Network (online neural Q-learning): one update per transition, just seen; the target
  r + gamma * max Q(s') comes from the very network being updated.
- DQN (Mnih et al. 2015): transitions go to a replay buffer and updates use random minibatches of
  it (breaking the correlation of consecutive samples); targets come from a *target network*, a copy
  synchronised only every so often (so the target stands still while the network chases it).

Both use the Huber loss (smooth L1, as in the Nature DQN's clipped error), Adam, the foundation's
``train_step`` (gradient clipping toggle, pre-clip norm log) and LR-schedule factory.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..progress import progress
from ..schedules import make_scheduler, step_scheduler
from ..seeding import seed_everything
from ..training import TrainLog, check_clip_norm, check_lr, snapshot, train_step
from .env import evaluate_policy, make_env


def q_network(hidden=(128, 128), obs_dim: int = 4, n_actions: int = 2) -> nn.Sequential:
    """An MLP from observation to one Q-value per action (4-128-128-2 ReLU by default)."""
    layers, size = [], obs_dim
    for h in hidden:
        layers += [nn.Linear(size, h), nn.ReLU()]
        size = h
    layers.append(nn.Linear(size, n_actions))
    return nn.Sequential(*layers)


def td_targets(target_model: nn.Module, rewards, next_obs, terminated, gamma: float) -> torch.Tensor:
    """r + gamma * max_a' Q(s', a'), with no bootstrap past a terminal state (truncation bootstraps)."""
    with torch.no_grad():
        next_q = target_model(next_obs).max(dim=1).values
    return rewards + gamma * (1.0 - terminated) * next_q


def sync_target(target: nn.Module, online: nn.Module, tau: float = 1.0) -> None:
    """Hard copy (tau=1) or soft update (target <- tau * online + (1 - tau) * target)."""
    with torch.no_grad():
        for t, o in zip(target.parameters(), online.parameters()):
            t.mul_(1.0 - tau).add_(o, alpha=tau) if tau < 1.0 else t.copy_(o)


class ReplayBuffer:
    """A fixed-size ring buffer of transitions with uniform random minibatches."""

    def __init__(self, capacity: int, obs_dim: int = 4, seed: int = 0):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity, self.size, self.pos = capacity, 0, 0
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), np.float32)
        self.actions = np.zeros(capacity, np.int64)
        self.rewards = np.zeros(capacity, np.float32)
        self.terminated = np.zeros(capacity, np.float32)
        self.rng = np.random.default_rng(seed)

    def add(self, obs, action, reward, next_obs, terminated) -> None:
        i = self.pos
        self.obs[i], self.actions[i], self.rewards[i] = obs, action, reward
        self.next_obs[i], self.terminated[i] = next_obs, float(terminated)
        self.pos = (self.pos + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def __len__(self) -> int:
        return self.size

    def _batch(self, idx) -> dict[str, torch.Tensor]:
        return {"obs": torch.from_numpy(self.obs[idx]), "actions": torch.from_numpy(self.actions[idx]),
                "rewards": torch.from_numpy(self.rewards[idx]), "next_obs": torch.from_numpy(self.next_obs[idx]),
                "terminated": torch.from_numpy(self.terminated[idx])}

    def sample(self, batch_size: int) -> dict[str, torch.Tensor]:
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        return self._batch(self.rng.integers(0, self.size, size=batch_size))

    def latest(self, n: int) -> dict[str, torch.Tensor]:
        """The ``n`` most recent transitions, oldest first (a fixed batch for TD-loss surfaces)."""
        n = min(n, self.size)
        return self._batch((self.pos - n + np.arange(n)) % self.capacity)


@dataclass
class AgentConfig:
    """What both agents share: the network, optimiser, exploration and evaluation settings."""
    total_steps: int = 20_000
    lr: float = 2.3e-3
    gamma: float = 0.99
    hidden: tuple = (128, 128)
    eps_start: float = 1.0
    eps_end: float = 0.04
    eps_steps: int = 8_000            # linear decay of epsilon over this many env steps
    clip_norm: float | None = None
    schedule: str = "constant"
    eval_every: int = 2_000
    eval_episodes: int = 10
    checkpoint_every: int = 500       # updates between parameter snapshots
    surface_batch: int = 2_000        # recent transitions kept for the TD-loss surface
    threads: int = 2                  # torch threads (results do not depend on it)


@dataclass
class QNetConfig(AgentConfig):
    """Online Q-learning: one update per env step, on that transition (nothing else to set)."""


@dataclass
class DQNConfig(AgentConfig):
    """DQN with replay and a target network (the rl-zoo CartPole-v1 recipe)."""
    total_steps: int = 50_000
    batch_size: int = 64
    buffer_size: int = 100_000
    learning_starts: int = 1_000
    train_freq: int = 256             # env steps between training rounds
    gradient_steps: int = 128         # updates per round; the target network is synced after each round
    tau: float = 1.0                  # 1.0 = hard sync; < 1 = soft (Polyak) update
    eval_every: int = 5_000           # "plateau" steps on this evaluation's return; others once per round
    checkpoint_every: int = 1_024


@dataclass
class RLRun:
    """A finished RL run: the final and the best (by greedy evaluation) networks, and its logs."""
    model: nn.Module                  # final online network
    best_model: nn.Module             # the network with the best greedy evaluation
    log: TrainLog                     # per update: TD loss, pre-clip grad norm, clipped, LR
    episode_returns: list = field(default_factory=list)
    episode_ends: list = field(default_factory=list)      # env step at which each episode ended
    evals: list = field(default_factory=list)             # (env step, mean greedy return)
    q_max: list = field(default_factory=list)             # per update: mean over the batch of max_a Q(s, a)
    checkpoints: list = field(default_factory=list)
    batch: dict = field(default_factory=dict)             # recent transitions for TD-loss surfaces
    label: str = ""

    @property
    def max_abs_q(self) -> float:
        """The largest |Q| seen in training (1 / (1 - gamma) is the most an honest Q can be)."""
        return float(np.max(np.abs(self.q_max))) if self.q_max else float("nan")

    @property
    def best_return(self) -> float:
        return max((r for _, r in self.evals), default=float("nan"))


def _epsilon(step: int, cfg) -> float:
    frac = min(1.0, step / max(1, cfg.eps_steps))
    return cfg.eps_start + frac * (cfg.eps_end - cfg.eps_start)


def _check(cfg) -> None:
    check_clip_norm(cfg.clip_norm)
    check_lr(cfg.lr)
    if not 0 <= cfg.gamma < 1:
        raise ValueError(f"gamma must be in [0, 1), got {cfg.gamma}")
    if cfg.total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {cfg.total_steps}")


def _act(model, obs, eps, env, rng) -> int:
    if rng.random() < eps:
        return int(env.action_space.sample())
    with torch.no_grad():
        return int(model(torch.as_tensor(obs).unsqueeze(0)).argmax())


def _evaluate(run: RLRun, model, step, cfg, best):
    ret = float(evaluate_policy(model, cfg.eval_episodes).mean())
    model.train()
    run.evals.append((step, ret))
    if best[0] is None or ret > best[0]:
        best[0], best[1] = ret, copy.deepcopy(model)
    return ret


def _start(cfg, seed: int, label: str):
    """Check the settings, seed everything, make the env, the network, Adam and an empty run."""
    _check(cfg)
    seed_everything(seed, threads=cfg.threads)
    env = make_env(seed)
    model = q_network(cfg.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, foreach=True)
    run = RLRun(model, model, TrainLog(), label=label, checkpoints=[snapshot(model)])
    return env, np.random.default_rng(seed), model, opt, run


def _interact(env, model, cfg, rng, run: RLRun, seed: int, desc: str):
    """Act epsilon-greedily for ``cfg.total_steps`` env steps, logging episode returns, and yield
    every transition ``(step, obs, action, reward, next_obs, terminated)``."""
    obs, _ = env.reset(seed=seed)
    ep_ret = 0.0
    for step in progress(range(1, cfg.total_steps + 1), desc=desc):
        action = _act(model, obs, _epsilon(step, cfg), env, rng)
        next_obs, reward, term, trunc, _ = env.step(action)
        yield step, obs, action, reward, next_obs, term
        ep_ret += reward
        obs = next_obs
        if term or trunc:
            run.episode_returns.append(ep_ret)
            run.episode_ends.append(step)
            ep_ret = 0.0
            obs, _ = env.reset()
    env.close()


def _update(run: RLRun, model, opt, loss_fn, cfg) -> None:
    """One optimisation step through the shared ``train_step``; log it, snapshot now and then."""
    run.log.record(train_step(opt, loss_fn, cfg.clip_norm), opt)
    if len(run.log) % cfg.checkpoint_every == 0:
        run.checkpoints.append(snapshot(model))


def _finish(run: RLRun, model, best, memory: ReplayBuffer, cfg) -> RLRun:
    run.checkpoints.append(snapshot(model))
    run.model, run.best_model = model.eval(), (best[1] or model).eval()
    run.batch = memory.latest(cfg.surface_batch)
    return run


def train_qnetwork(cfg: QNetConfig = QNetConfig(), seed: int = 0, label: str = "") -> RLRun:
    """Online Q-learning: act, then one update on that single transition, target from the same net."""
    env, rng, model, opt, run = _start(cfg, seed, label)
    sched = make_scheduler(opt, cfg.schedule, total=max(1, cfg.total_steps // cfg.eval_every),
                           plateau_mode="max", plateau_patience=1)
    recent = ReplayBuffer(cfg.surface_batch, seed=seed)            # kept only for the surface
    best = [None, None]
    for step, obs, action, reward, next_obs, term in _interact(env, model, cfg, rng, run, seed,
                                                                f"Q-Network {label}".strip()):
        recent.add(obs, action, reward, next_obs, term)
        o = torch.as_tensor(obs).unsqueeze(0)
        target = td_targets(model, torch.tensor([reward], dtype=torch.float32),
                            torch.as_tensor(next_obs).unsqueeze(0), torch.tensor([float(term)]), cfg.gamma)

        def loss_fn():
            q = model(o)
            run.q_max.append(float(q.detach().max()))
            return F.smooth_l1_loss(q[0, action].unsqueeze(0), target)

        _update(run, model, opt, loss_fn, cfg)
        if step % cfg.eval_every == 0:
            step_scheduler(sched, metric=_evaluate(run, model, step, cfg, best))
    return _finish(run, model, best, recent, cfg)


def train_dqn(cfg: DQNConfig = DQNConfig(), seed: int = 0, label: str = "") -> RLRun:
    """DQN: epsilon-greedy acting into a replay buffer; every ``train_freq`` steps,
    ``gradient_steps`` minibatch updates against the target network, then a target sync."""
    env, rng, model, opt, run = _start(cfg, seed, label)
    target = copy.deepcopy(model)
    rounds = max(1, (cfg.total_steps - cfg.learning_starts) // cfg.train_freq)
    sched = make_scheduler(opt, cfg.schedule, total=rounds, plateau_mode="max", plateau_patience=1)
    buffer = ReplayBuffer(cfg.buffer_size, seed=seed)
    best = [None, None]
    for step, obs, action, reward, next_obs, term in _interact(env, model, cfg, rng, run, seed,
                                                                f"DQN {label}".strip()):
        buffer.add(obs, action, reward, next_obs, term)
        if step > cfg.learning_starts and step % cfg.train_freq == 0:
            for _ in range(cfg.gradient_steps):
                b = buffer.sample(cfg.batch_size)
                y = td_targets(target, b["rewards"], b["next_obs"], b["terminated"], cfg.gamma)

                def loss_fn():
                    q = model(b["obs"])
                    run.q_max.append(float(q.detach().max(dim=1).values.mean()))
                    return F.smooth_l1_loss(q.gather(1, b["actions"].unsqueeze(1)).squeeze(1), y)

                _update(run, model, opt, loss_fn, cfg)
            sync_target(target, model, cfg.tau)
            if cfg.schedule != "plateau":
                step_scheduler(sched)
        if step % cfg.eval_every == 0:
            ret = _evaluate(run, model, step, cfg, best)
            if cfg.schedule == "plateau":
                step_scheduler(sched, metric=ret)
    return _finish(run, model, best, buffer, cfg)
