"""CartPole-v1 episodes, many at once: gymnasium's own numpy-batched CartPole, started from the exact
initial states that seeded ``gymnasium.make("CartPole-v1")`` resets produce, so a batched episode is
the same episode a plain gymnasium loop would play (tests/test_rl.py checks it step by step)."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

from ..model_state import eval_mode
from ..seeding import seed_env

ENV_ID = "CartPole-v1"
MAX_STEPS = 500           # CartPole-v1's time limit (truncation)


def make_env(seed: int | None = None) -> gym.Env:
    """``gym.make("CartPole-v1")``, seeded (reset and action space) when ``seed`` is given."""
    env = gym.make(ENV_ID)
    if seed is not None:
        seed_env(env, seed)
    return env


def initial_states(seeds) -> np.ndarray:
    """The (float64) start state of a CartPole-v1 episode reset with each seed, shape (len(seeds), 4)."""
    env = gym.make(ENV_ID)
    states = []
    for s in seeds:
        env.reset(seed=int(s))
        states.append(np.array(env.unwrapped.state, dtype=np.float64))
    env.close()
    return np.stack(states)


def cartpoles(states: np.ndarray, max_steps: int = MAX_STEPS) -> CartPoleVectorEnv:
    """gymnasium's vector CartPole with one sub-env per row of ``states`` (B, 4), started exactly there.

    This function and ``restart`` are the only code that writes the vector env's internals (``state``,
    ``steps``, ``prev_done``); tests/test_rl.py checks the gymnasium behaviour they rely on: a sub-env
    whose episode ended is reset by the *next* ``step`` (reward 0), from the env's own generator.
    """
    venv = CartPoleVectorEnv(num_envs=len(states), max_episode_steps=max_steps)
    venv.reset(seed=0)
    venv.state = np.asarray(states, dtype=np.float64).T.copy()
    return venv


def restart(venv: CartPoleVectorEnv, r: int, state: np.ndarray) -> np.ndarray:
    """Start sub-env ``r``, whose episode just ended, again from ``state`` (4,) now, instead of
    gymnasium's reset at the next step; returns its float32 observation."""
    venv.state[:, r] = state
    venv.steps[r] = 0
    venv.prev_done[r] = False
    return venv.state[:, r].astype(np.float32)


def run_episodes(policy, states: np.ndarray, max_steps: int = MAX_STEPS) -> np.ndarray:
    """Play one episode from each start state at once; return each episode's undiscounted return.

    ``policy(obs, alive)`` maps float32 observations (B, 4) to integer actions (B,); ``alive`` marks
    the episodes still running (the others' actions are ignored, so a policy may skip them).
    Episodes end on termination (pole or cart out of bounds) or truncation at ``max_steps``, as in
    CartPole-v1.
    """
    states = np.asarray(states, dtype=np.float64)
    b = len(states)
    venv = cartpoles(states, max_steps)
    obs = states.astype(np.float32)
    returns = np.zeros(b)
    alive = np.ones(b, dtype=bool)
    for _ in range(max_steps):
        actions = np.asarray(policy(obs, alive), dtype=np.int64).reshape(b)
        obs, reward, terminated, truncated, _ = venv.step(actions)
        returns += reward * alive
        alive &= ~(terminated | truncated)
        if not alive.any():
            break
    venv.close()
    return returns


@torch.no_grad()
def greedy_actions(model: torch.nn.Module, obs: np.ndarray) -> np.ndarray:
    return model(torch.as_tensor(obs)).argmax(-1).numpy()


def evaluate_policy(model: torch.nn.Module, episodes: int = 10, seed: int = 10_000) -> np.ndarray:
    """Returns of ``episodes`` greedy episodes started from seeds ``seed, seed+1, ...`` (batched), the
    model in eval mode while it plays (each module's own mode restored afterwards)."""
    with eval_mode(model):
        return run_episodes(lambda o, alive: greedy_actions(model, o), initial_states(range(seed, seed + episodes)))
