"""Reinforcement learning on CartPole-v1: an online Q-Network, DQN, and their loss and return surfaces."""
from .env import ENV_ID, make_env, initial_states, run_episodes, evaluate_policy
from .agents import (AgentConfig, QNetConfig, DQNConfig, RLRun, ReplayBuffer, q_network, train_qnetwork, train_dqn,
                     sync_target, td_targets)
from .surfaces import td_objective, return_surface
from .parallel import train_many
