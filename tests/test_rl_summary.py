"""Scores over seeds, the random-policy floor, and the pull of a TD loss on each Q-value."""
import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn as nn

from lossurf.rl import RLRun, q_network
from lossurf.rl.summary import fresh_scores, random_policy_returns, td_pull
from lossurf.rl.trainer import TEST_SEED
from lossurf.training import TrainLog


def tiny_q():
    net = nn.Sequential(nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))   # Q(s) = (s0, 2 s1)
    return net


# transition 1: Q((1, 1)) = (1, 2), a = 1 -> Q = 2, not terminal, max Q(s') = max(3, 1) = 3
# transition 2: Q((0.5, -1)) = (0.5, -2), a = 0 -> Q = 0.5, terminal (target = its reward, 0)
BATCH = {"obs": torch.tensor([[1.0, 1.0], [0.5, -1.0]]), "actions": torch.tensor([1, 0]),
         "rewards": torch.tensor([1.0, 0.0]), "next_obs": torch.tensor([[3.0, 0.5], [0.0, 0.0]]),
         "terminated": torch.tensor([0.0, 1.0])}


@pytest.mark.parametrize("loss, gamma, rest, terminal", [
    ("huber", 0.5, 0.5, -0.5),     # y1 = 1 + 0.5 * 3 = 2.5: error 0.5 (under 1, Huber's push is the error)
    ("mse", 0.5, 1.0, -1.0),       # MSE pushes with twice the error
    ("huber", 4.0, 1.0, -0.5),     # y1 = 1 + 4 * 3 = 13: error 11, Huber's push is capped at 1
    ("mse", 4.0, 22.0, -1.0)])
def test_td_pull_by_hand(loss, gamma, rest, terminal):
    out = td_pull(tiny_q(), BATCH, gamma, loss)
    assert out == {"terminal share": 0.5, "push from terminal": terminal, "push from the rest": rest,
                   "rest with target above Q": 1.0}


def test_td_pull_without_terminal_transitions_and_a_bad_loss():
    batch = {k: v[:1] for k, v in BATCH.items()}
    out = td_pull(tiny_q(), batch, 0.5)
    assert out["terminal share"] == 0.0 and out["push from terminal"] == 0.0
    with pytest.raises(ValueError, match="unknown loss"):
        td_pull(tiny_q(), BATCH, 0.5, "l1")


def _run(best, final, q_max):
    model = q_network((4,))
    return RLRun(model=model, best_model=model, log=TrainLog(), q_max=list(q_max),
                 best_test=np.asarray(best, float), final_test=np.asarray(final, float))


def test_fresh_scores_over_seeds():
    runs = [_run([500, 500], [100, 200], [3.0, -7.0]),      # best mean 500 (solved), final mean 150
            _run([480, 470], [480, 490], [50.0]),          # 475, 485: both solved
            _run([10, 20], [30, 40], [1.0, np.inf])]       # 15, 35; overflowed |Q|
    s = fresh_scores(runs)
    assert s == pytest.approx({"best mean": 330.0, "best min": 15.0, "best max": 500.0,
                 "final mean": 670 / 3, "final min": 35.0, "final max": 485.0,
                 "best solved": 2, "final solved": 1, "seeds": 3, "max |Q| min": 7.0, "max |Q|": np.inf})


def test_random_policy_returns_replay_in_plain_gymnasium():
    episodes = 30
    got = random_policy_returns(episodes)
    # the same draws: one action per episode per step from default_rng(seed), episodes side by side
    rng = np.random.default_rng(TEST_SEED)
    draws = [rng.integers(0, 2, episodes) for _ in range(500)]
    want = []
    for i in range(episodes):
        env = gym.make("CartPole-v1")
        env.reset(seed=TEST_SEED + i)
        ret, t, done = 0.0, 0, False
        while not done:
            _, r, term, trunc, _ = env.step(int(draws[t][i]))
            ret, t, done = ret + r, t + 1, term or trunc
        want.append(ret)
    np.testing.assert_array_equal(got, want)
    assert 10 < got.mean() < 40                                  # CartPole's random policy scores about 22


def test_max_abs_q_is_the_largest_magnitude_and_inf_once_q_overflowed():
    assert _run([1], [1], [1.0, -5.0, 3.0]).max_abs_q == 5.0
    assert _run([1], [1], [1.0, float("nan"), 3.0]).max_abs_q == float("inf")
    assert np.isnan(_run([1], [1], []).max_abs_q)
