"""Notebooks 02 and 03's lesson code: online Q-learning and DQN on CartPole-v1, many runs batched, their
loss and return surfaces, what they believe against what happens, and their pictures."""
from .env import ENV_ID, make_env, initial_states, run_episodes, evaluate_policy
from .config import RLConfig, QNetConfig, DQNConfig, PER_RUN
from .qnet import q_network
from .replay import ReplayBuffer
from .record import RLRun, model_with, over_training
from .td import LOSSES, td_target, td_targets, td_loss
from .trainer import train_runs, train_many, train_qnetwork, train_dqn, epsilon
from .one_run import q_learning
from .surfaces import td_objective, return_surface
from .measures import SOLVED, group, fresh_scores, score_rows, random_policy_returns, td_pull
from .diagnostics import greedy_episodes, discounted_returns, predicted_vs_actual, update_alignment
from . import figures, rounds
