"""Reinforcement learning on CartPole-v1: online Q-learning and DQN, many runs batched, and their loss
and return surfaces."""
from .env import ENV_ID, make_env, initial_states, run_episodes, evaluate_policy
from .agents import (RLConfig, QNetConfig, DQNConfig, RLRun, ReplayBuffer, PER_RUN, q_network,
                     td_targets)
from .trainer import train_runs, train_many, train_qnetwork, train_dqn, epsilon
from .td import LOSSES, td_target, td_loss
from .surfaces import td_objective, return_surface
from .diagnostics import greedy_episodes, discounted_returns, predicted_vs_actual, update_alignment
