"""Scores over seeds, the random-policy floor, the largest |Q| of a run."""
import gymnasium as gym
import numpy as np
import pytest

from lossurf.rl import RLRun, q_network
from lossurf.rl.measures import fresh_scores, random_policy_returns
from lossurf.rl.trainer import TEST_SEED
from lossurf.training import TrainLog


def _run(best, final, q_max):
    model = q_network((4,))
    return RLRun(model=model, best_model=model, log=TrainLog(), q_max=list(q_max),
                 best_test=np.asarray(best, float), final_test=np.asarray(final, float))


def test_fresh_scores_over_seeds():
    runs = [_run([500, 500], [100, 200], [3.0, -7.0]),      # best mean 500 (solved), final mean 150
            _run([480, 470], [480, 490], [50.0]),          # 475, 485: both solved
            _run([10, 20], [30, 40], [1.0, np.inf])]       # 15, 35; overflowed |Q|
    s = fresh_scores(runs)
    assert s._asdict() == pytest.approx(dict(best_mean=330.0, best_min=15.0, best_max=500.0,
                 final_mean=670 / 3, final_min=35.0, final_max=485.0,
                 best_solved=2, final_solved=1, seeds=3, max_q_min=7.0, max_q=np.inf))


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
