"""The Q-network: a small MLP from CartPole's 4 observations to one value per action."""
from __future__ import annotations

import torch.nn as nn


def q_network(hidden=(32, 32), obs_dim: int = 4, n_actions: int = 2) -> nn.Sequential:
    """An MLP from observation to one Q-value per action (4-32-32-2 ReLU by default)."""
    layers, size = [], obs_dim
    for h in hidden:
        layers += [nn.Linear(size, h), nn.ReLU()]
        size = h
    layers.append(nn.Linear(size, n_actions))
    return nn.Sequential(*layers)
