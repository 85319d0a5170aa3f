"""The RL primer that opens notebook 02: CartPole episodes played by simple policies (random, always the
same push) and by trained networks, their states for the filmstrip, and the baselines every learner
must beat, all on the same fresh test episodes the learners are scored on."""
from __future__ import annotations

import numpy as np
import torch

from ..model_state import eval_mode
from .config import RLConfig
from .env import MAX_STEPS, greedy_actions, initial_states, make_env, run_episodes
from .trainer import TEST_SEED, epsilon


def constant_policy_returns(action: int, episodes: int = 100, seed: int = TEST_SEED) -> np.ndarray:
    """Returns of a policy that always takes ``action`` (0 = push left, 1 = push right) on the fresh test
    episodes: the pole falls away from the push within a few steps."""
    if action not in (0, 1):
        raise ValueError(f"CartPole's actions are 0 (push left) and 1 (push right), got {action!r}")
    return run_episodes(lambda obs, alive: np.full(len(obs), action), initial_states(range(seed, seed + episodes)))


def episode_states(policy, seed: int = TEST_SEED, max_steps: int = MAX_STEPS) -> np.ndarray:
    """The states (T + 1, 4) of one CartPole-v1 episode reset with ``seed``, from the first to the one it
    ended in; ``policy(obs)`` maps one float32 observation (4,) to an action 0 or 1."""
    env = make_env(seed)
    obs, _ = env.reset(seed=seed)
    states = [obs]
    for _ in range(max_steps):
        obs, _, terminated, truncated, _ = env.step(int(policy(obs)))
        states.append(obs)
        if terminated or truncated:
            break
    env.close()
    return np.stack(states)


def random_policy(seed: int = TEST_SEED):
    """A policy that pushes left or right at random (its own seeded generator)."""
    rng = np.random.default_rng(seed)
    return lambda obs: int(rng.integers(0, 2))


def greedy_policy(model: torch.nn.Module):
    """The policy that takes the action of the larger Q-value (the model evaluated in eval mode)."""
    def act(obs):
        with eval_mode(model):
            return int(greedy_actions(model, np.asarray(obs)[None])[0])
    return act


def epsilon_schedule(cfg: RLConfig) -> str:
    """The exploration schedule of ``cfg`` in one line, read from the config the runs train with."""
    mid = cfg.eps_steps // 2
    return (f"ε-greedy: ε falls linearly from {cfg.eps_start:g} to {cfg.eps_end:g} over the first "
            f"{cfg.eps_steps:,} environment steps (ε = {float(epsilon(mid, cfg)):.2f} at step {mid:,}), "
            f"then stays at {cfg.eps_end:g} until step {cfg.total_steps:,}")


def push_share(model: torch.nn.Module, episodes: int = 10, seed: int = TEST_SEED) -> float:
    """The share of a greedy network's actions that are its more frequent push, over ``episodes`` fresh
    test episodes: 1.0 means it always pushes the same way, like ``constant_policy_returns``."""
    counts = np.zeros(2)

    def policy(obs, alive):
        actions = greedy_actions(model, obs)
        np.add.at(counts, actions[alive], 1)
        return actions
    with eval_mode(model):
        run_episodes(policy, initial_states(range(seed, seed + episodes)))
    return float(counts.max() / counts.sum())


def median_episode(make_policy, seeds=range(TEST_SEED, TEST_SEED + 21)) -> np.ndarray:
    """The states of a typical episode: of one episode per seed, ``make_policy(seed)`` playing the episode
    reset with that seed, the one of median length (the first such, for an even tie)."""
    episodes = [episode_states(make_policy(s), seed=s) for s in seeds]
    if not episodes:
        raise ValueError("median_episode needs at least one seed")
    lengths = np.array([len(e) for e in episodes])
    return episodes[int(np.argsort(lengths, kind="stable")[(len(lengths) - 1) // 2])]
