"""Frozen-target TD surfaces over successive updates: a target network holds the surface still."""
import numpy as np
import pytest

from lossurf.rl import RLConfig, train_runs
from lossurf.rl import rounds


def _pair():
    cfg = RLConfig(total_steps=700, hidden=(16, 16), batch_size=16, learning_starts=100, train_freq=2,
                   eps_steps=300, target_update=32, eval_every=700, eval_episodes=2, test_episodes=2,
                   surface_batch=100, checkpoint_every=4, threads=1)
    import dataclasses
    return train_runs([cfg, dataclasses.replace(cfg, target_network=False)], [0, 0])


def test_round_panels_and_targets():
    assert rounds.round_panels(1000, 128, 32, before=3, after=3) == [800, 832, 864, 896, 928, 960]
    with pytest.raises(ValueError, match="too short"):
        rounds.round_panels(100, 128, 32)
    dqn, free = _pair()
    assert rounds.target_of(dqn, 70) == 64 and rounds.target_of(free, 70) == 70
    with pytest.raises(ValueError, match="no checkpoint"):
        rounds.checkpoint_at(dqn, 3)


def test_surfaces_hold_still_within_a_round_with_a_target_network():
    dqn, free = _pair()
    moments = rounds.round_panels(dqn.config.updates, 32, 8, before=3, after=3)
    d = rounds.frozen_target_surfaces(dqn, moments, gamma=0.99, points=7, batch_size=50)
    f = rounds.frozen_target_surfaces(free, moments, gamma=0.99, points=7, batch_size=50)
    same_round = [k for k, u in enumerate(moments) if d["targets"][k] == d["targets"][0]]
    assert len(same_round) == 3
    for k in same_round[1:]:          # one round: the very same surface
        np.testing.assert_array_equal(d["surfaces"][k].values["loss"], d["surfaces"][0].values["loss"])
    assert d["targets"][3] != d["targets"][0]
    assert not np.array_equal(d["surfaces"][3].values["loss"], d["surfaces"][0].values["loss"])
    for k in range(1, len(moments)):  # without a target network every moment has its own surface
        assert not np.array_equal(f["surfaces"][k].values["loss"], f["surfaces"][k - 1].values["loss"])
    assert d["online"].shape == (6, 2) and np.allclose(d["online"][0], 0, atol=1e-6)
    assert rounds.moves(np.array([[0, 0], [0, 0], [1, 0]])) == 1
