"""Q-learning and DQN for one run, written out plainly (CleanRL style): the algorithm that
``train_runs`` runs for many runs at once, step for step.

It makes the same random draws as the batched trainer makes for one run (three streams from
``SeedSequence(seed)``: explore-or-not coins, random actions, replay indices), so the two agree to float
rounding (``tests/test_rl_trainer.py``). The batched trainer exists only to train 30 runs in the time of one.
"""
from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import torch

from .config import RLConfig
from .qnet import q_network
from .td import td_loss, td_target
from .trainer import _UNIFORM_CHUNK, epsilon, replay_index


def q_learning(cfg: RLConfig, seed: int) -> dict:
    """Train one run of ``cfg`` on CartPole-v1. Returns per update the TD ``loss``, the pre-clip
    ``grad_norm`` and the batch's largest |Q| (``q_max``); the ``returns`` of finished episodes; the final
    ``params``. Replay on: batches drawn uniformly from everything seen; off: the ``batch_size`` most recent
    transitions (for the Q-Network, batch_size 1: the one transition just experienced)."""
    torch.manual_seed(seed)
    q = q_network(cfg.hidden)                     # Q(s, .): the 4 state numbers in, one value per action out
    q_target = copy.deepcopy(q)                   # the target network (used when cfg.target_network)
    opt = (torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.SGD)(q.parameters(), lr=cfg.lr)
    explore, pick, replay = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    coins, random_actions = explore.random(cfg.total_steps), pick.integers(0, 2, cfg.total_steps)
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=seed)
    memory, log, returns, episode_return, draws = [], {"loss": [], "grad_norm": [], "q_max": []}, [], 0.0, {}
    for t in range(1, cfg.total_steps + 1):
        if coins[t - 1] < epsilon(t, cfg):                               # 1. act: epsilon-greedy
            action = int(random_actions[t - 1])
        else:
            with torch.no_grad():
                action = int(q(torch.as_tensor(obs)[None]).argmax())
        next_obs, reward, terminated, truncated, _ = env.step(action)    # 2. step and store
        memory.append((obs, action, reward, next_obs, float(terminated)))
        episode_return, obs = episode_return + reward, next_obs
        if terminated or truncated:
            returns.append(episode_return)
            episode_return, (obs, _) = 0.0, env.reset()
        if t <= cfg.learning_starts or t % cfg.train_freq:
            continue
        for _ in range(cfg.gradient_steps):
            u = len(log["loss"])
            o, a, r, s2, done = _batch(memory, u, cfg, replay, draws)     # 3. sample
            with torch.no_grad():                                        # 4. update, y = r + γ(1−done) max Q(s′)
                y = td_target(r, done, (q_target if cfg.target_network else q)(s2), gamma=cfg.gamma)
            q_all = q(o)
            per_item = td_loss(q_all.gather(1, a[:, None]).squeeze(1), y, cfg.loss, reduction="none", delta=cfg.huber_delta)
            weights = 1.0
            if cfg.clip_per == "transition" and cfg.clip_norm is not None:   # clip each transition's gradient
                weights = _transition_weights(q, o, a, y, cfg)
            loss = (per_item * weights).mean()
            opt.zero_grad()
            loss.backward()
            clip = cfg.clip_norm if cfg.clip_norm is not None and cfg.clip_per == "batch" else float("inf")
            norm = torch.nn.utils.clip_grad_norm_(q.parameters(), clip)
            opt.step()
            for key, value in (("loss", per_item.detach().mean()), ("grad_norm", norm), ("q_max", q_all.detach().abs().max())):
                log[key].append(value.item())
            if cfg.target_network and (u + 1) % cfg.target_update == 0:  # 5. sync the target network
                _sync(q_target, q, cfg.tau)
    return {**log, "returns": returns, "params": {k: v.detach() for k, v in q.named_parameters()}}


def _transition_weights(q: torch.nn.Module, o, a, y, cfg: RLConfig) -> torch.Tensor:
    """min(1, clip_norm / ||g_i||) for each transition's own gradient g_i (``torch.func``: one gradient per
    sample), so that the weighted mean of the losses has the mean of the clipped gradients as its gradient."""
    params = {k: v.detach() for k, v in q.named_parameters()}

    def one(p, oi, ai, yi):
        qi = torch.func.functional_call(q, p, (oi[None],))[0].gather(0, ai.reshape(1))[0]
        return td_loss(qi, yi, cfg.loss, delta=cfg.huber_delta)

    grads = torch.func.vmap(torch.func.grad(one), in_dims=(None, 0, 0, 0))(params, o, a, y)
    norms = torch.sqrt(sum(g.pow(2).flatten(1).sum(1) for g in grads.values()))
    return torch.clamp(cfg.clip_norm / (norms + 1e-6), max=1.0)


def _batch(memory: list, u: int, cfg: RLConfig, replay: np.random.Generator, draws: dict):
    """Update ``u``'s batch as tensors (obs, actions, rewards, next obs, terminated). With replay, indices
    are uniform over the memory, drawn ``_UNIFORM_CHUNK`` updates at a time (kept in ``draws``) as the
    batched trainer draws them."""
    size = len(memory)
    if cfg.replay:
        if u % _UNIFORM_CHUNK == 0:
            draws["now"] = replay.random((_UNIFORM_CHUNK, cfg.batch_size))
        idx = replay_index(draws["now"][u % _UNIFORM_CHUNK][None], size, np.array([[cfg.replay_window or 0]]),
                           cfg.replay_draw == "consecutive")[0]          # the whole memory, or its last replay_window
    else:
        idx = np.arange(size - cfg.batch_size, size)
    o, a, r, s2, done = (torch.as_tensor(np.array(x)) for x in zip(*[memory[i] for i in idx]))
    return o, a, r.float(), s2, done.float()


@torch.no_grad()
def _sync(target: torch.nn.Module, online: torch.nn.Module, tau: float) -> None:
    """Hard copy (tau = 1), or Polyak averaging: target = (1 - tau) target + tau online."""
    if tau == 1.0:
        target.load_state_dict(online.state_dict())
    else:
        for t_p, p in zip(target.parameters(), online.parameters()):
            t_p.copy_((1 - tau) * t_p + tau * p)
