"""What a Q-network believes against what happens: Q-values beside measured returns, and the direction
a Q-learning update really takes compared with the gradient of the "moving-target" TD loss."""
from __future__ import annotations

import numpy as np
import torch

from ..directions import flatten, parameters_of
from .env import MAX_STEPS, cartpoles, initial_states
from .td import check_loss, td_loss, td_target

ROLLOUT_SEED = 30_000        # episodes for the overestimation check: used in no training, selection or test


@torch.no_grad()
def greedy_episodes(model: torch.nn.Module, episodes: int = 20, seed: int = ROLLOUT_SEED) -> list[dict]:
    """Play ``episodes`` greedy episodes at once (starts of ``gym.make`` resets with seeds ``seed, ...``)
    and keep every state: a list of ``{"obs" (T, 4), "rewards" (T,), "terminated": bool}``."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    states = initial_states(range(seed, seed + episodes))
    venv = cartpoles(states)
    obs = states.astype(np.float32)
    alive = np.ones(episodes, dtype=bool)
    seen, rewards, ended = [[] for _ in range(episodes)], [[] for _ in range(episodes)], np.zeros(episodes, bool)
    was_training = model.training
    model.eval()
    try:
        for _ in range(MAX_STEPS):
            actions = model(torch.as_tensor(obs)).argmax(-1).numpy()
            for i in np.flatnonzero(alive):
                seen[i].append(obs[i].copy())
            obs, reward, terminated, truncated, _ = venv.step(actions)
            for i in np.flatnonzero(alive):
                rewards[i].append(float(reward[i]))
                ended[i] = bool(terminated[i])
            alive &= ~(terminated | truncated)
            if not alive.any():
                break
    finally:
        model.train(was_training)
        venv.close()
    return [{"obs": np.stack(o), "rewards": np.array(r), "terminated": bool(e)}
            for o, r, e in zip(seen, rewards, ended)]


def discounted_returns(rewards, *, gamma: float) -> np.ndarray:
    """G_t = r_t + gamma r_{t+1} + ... to the episode's end, for every t."""
    g, out = 0.0, np.zeros(len(rewards))
    for t in range(len(rewards) - 1, -1, -1):
        g = rewards[t] + gamma * g
        out[t] = g
    return out


@torch.no_grad()
def predicted_vs_actual(model: torch.nn.Module, *, gamma: float, episodes: int = 20, seed: int = ROLLOUT_SEED,
                        margin: int = 300) -> dict[str, np.ndarray]:
    """The network's value of each state it visits, max_a Q(s, a), beside the discounted return that
    actually followed (Monte Carlo). A state is kept when its return is complete: its episode ended by
    failure, or at least ``margin`` steps remained before the 500-step time limit cut it (then the
    missing tail is at most gamma^margin / (1 - gamma)). Returns ``predicted``, ``actual``, ``t``,
    ``tail_bound`` and ``ratio``, the median of predicted / actual (NaN without a kept state)."""
    pred, actual, times = [], [], []
    for ep in greedy_episodes(model, episodes, seed):
        g = discounted_returns(ep["rewards"], gamma=gamma)
        n = len(g)
        keep = np.arange(n) if ep["terminated"] else np.arange(max(0, n - margin + 1))
        if not len(keep):
            continue
        q = model(torch.as_tensor(ep["obs"][keep])).max(-1).values.numpy()
        pred.append(q), actual.append(g[keep]), times.append(keep)
    out = {"predicted": np.concatenate(pred) if pred else np.zeros(0),
           "actual": np.concatenate(actual) if pred else np.zeros(0),
           "t": np.concatenate(times) if pred else np.zeros(0, int), "tail_bound": gamma ** margin / (1 - gamma)}
    out["ratio"] = float(np.median(out["predicted"] / out["actual"])) if pred else float("nan")
    return out


def update_alignment(model: torch.nn.Module, params, batch: dict, *, gamma: float, loss: str = "huber") -> float:
    """Cosine between the semi-gradient Q-learning direction and the gradient of the moving-target loss.

    Q-learning updates along g_semi = grad of L(theta; y) with the target y = r + gamma max Q_theta(s')
    held fixed (computed from the current weights, then treated as a constant). The "moving-target"
    surface is L(theta; y(theta)), one function of theta, whose gradient g_moving also flows through
    y. A cosine near +1 means a Q-learning step also descends that surface; below 0, it climbs it.
    """
    check_loss(loss)
    p = {k: v.detach().clone().requires_grad_(True) for k, v in parameters_of(params).items()}
    call = lambda x: torch.func.functional_call(model, p, (x,))
    q_sa = call(batch["obs"]).gather(1, batch["actions"].unsqueeze(1)).squeeze(1)
    y = td_target(batch["rewards"], batch["terminated"], call(batch["next_obs"]), gamma=gamma)
    semi = torch.autograd.grad(td_loss(q_sa, y.detach(), loss), list(p.values()), retain_graph=True)
    moving = torch.autograd.grad(td_loss(q_sa, y, loss), list(p.values()))
    a, b = flatten(semi), flatten(moving)
    denom = (a.norm() * b.norm()).item()
    return float("nan") if denom == 0 else float(a @ b) / denom
