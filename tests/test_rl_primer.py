"""The RL primer's baselines and episodes: a constant push fails fast, episodes end where CartPole-v1
says, the ε schedule is read from the config."""
import numpy as np
import pytest
import torch

from lossurf.rl import QNetConfig, random_policy_returns
from lossurf.rl.cartpole_pictures import ANGLE_LIMIT, X_LIMIT
from lossurf.rl.primer import (constant_policy_returns, episode_states, epsilon_schedule, greedy_policy,
                               random_policy)


def test_always_pushing_one_way_fails_faster_than_random():
    push, rand = constant_policy_returns(1, episodes=30), random_policy_returns(episodes=30)
    assert 5 <= push.mean() < 15 < rand.mean() < 40 and push.max() < rand.max()
    assert constant_policy_returns(0, episodes=30).mean() == pytest.approx(push.mean(), rel=0.3)   # mirror images
    with pytest.raises(ValueError, match="push left"):
        constant_policy_returns(2)


def test_an_episode_ends_in_a_failed_state_and_matches_the_batched_return():
    states = episode_states(lambda obs: 1, seed=10_000)
    assert states.shape[1] == 4 and len(states) - 1 == constant_policy_returns(1, episodes=1, seed=10_000)[0]
    last = states[-1]
    assert abs(last[2]) > ANGLE_LIMIT or abs(last[0]) > X_LIMIT                 # terminated: pole or cart out
    assert not (abs(states[:-1, 2]) > ANGLE_LIMIT).any()
    a, b = (episode_states(random_policy(3), seed=5) for _ in range(2))
    np.testing.assert_array_equal(a, b)                                         # seeded: the same episode


def test_greedy_policy_takes_the_larger_q_and_keeps_the_mode():
    net = torch.nn.Linear(4, 2)
    with torch.no_grad():
        net.weight.zero_(); net.bias.copy_(torch.tensor([0.0, 1.0]))
    net.train()
    assert greedy_policy(net)(np.zeros(4, dtype=np.float32)) == 1 and net.training


def test_the_epsilon_line_is_read_from_the_config():
    line = epsilon_schedule(QNetConfig(eps_start=1.0, eps_end=0.05, eps_steps=4_000, total_steps=20_000))
    assert "from 1 to 0.05 over the first 4,000" in line and "ε = 0.53 at step 2,000" in line and "20,000" in line


def test_push_share_is_one_for_a_network_that_always_prefers_one_action():
    from lossurf.rl.primer import push_share
    net = torch.nn.Linear(4, 2)
    with torch.no_grad():
        net.weight.zero_(); net.bias.copy_(torch.tensor([1.0, 0.0]))
    assert push_share(net, episodes=3) == 1.0
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[0.0, 0.0, -1.0, 0.0], [0.0, 0.0, 1.0, 0.0]])); net.bias.zero_()
    assert 0.3 < push_share(net, episodes=3) < 0.9                           # follows the pole: both pushes


def test_median_episode_is_the_middle_length():
    from lossurf.rl.primer import episode_states, median_episode
    seeds = range(100, 109)
    lengths = sorted(len(episode_states(random_policy(s), seed=s)) for s in seeds)
    assert len(median_episode(random_policy, seeds)) == lengths[4]
    with pytest.raises(ValueError, match="at least one"):
        median_episode(random_policy, [])
