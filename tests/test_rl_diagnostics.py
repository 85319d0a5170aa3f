"""Q-values against measured returns, and the direction of a Q-learning update."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lossurf.rl import (discounted_returns, greedy_episodes, predicted_vs_actual, q_network, td_objective,
                        update_alignment, evaluate_policy)
from lossurf.rl.diagnostics import ROLLOUT_SEED


def _batch(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"obs": torch.randn(n, 4, generator=g), "actions": torch.randint(0, 2, (n,), generator=g),
            "rewards": torch.ones(n), "next_obs": torch.randn(n, 4, generator=g),
            "terminated": (torch.rand(n, generator=g) < 0.1).float()}


def test_discounted_returns():
    np.testing.assert_allclose(discounted_returns([1, 1, 1], 0.5), [1.75, 1.5, 1.0])


def test_greedy_episodes_are_the_evaluation_episodes_and_states_are_kept():
    torch.manual_seed(0)
    model = q_network((16,))
    eps = greedy_episodes(model, 5)
    returns = [ep["rewards"].sum() for ep in eps]
    np.testing.assert_array_equal(returns, evaluate_policy(model, 5, seed=ROLLOUT_SEED))
    assert all(len(ep["obs"]) == len(ep["rewards"]) for ep in eps)


def test_predicted_vs_actual_keeps_only_complete_returns():
    torch.manual_seed(0)
    model = q_network((16,))
    out = predicted_vs_actual(model, 0.99, episodes=4)
    assert out["predicted"].shape == out["actual"].shape == out["t"].shape
    eps = greedy_episodes(model, 4)
    q0 = model(torch.as_tensor(eps[0]["obs"][:1])).max(-1).values.item()
    assert out["predicted"][0] == pytest.approx(q0)
    assert out["actual"][0] == pytest.approx(discounted_returns(eps[0]["rewards"], 0.99)[0])
    # an episode cut at 500 steps keeps only states with >= margin steps left
    assert out["tail_bound"] == pytest.approx(0.99 ** 300 / 0.01)
    assert out["ratio"] == pytest.approx(np.median(out["predicted"] / out["actual"]))


def test_update_alignment():
    torch.manual_seed(0)
    model = q_network((16,))
    b = _batch()
    # gamma = 0: the target does not depend on the weights, so both gradients are the same
    assert update_alignment(model, model, b, 0.0) == pytest.approx(1.0, abs=1e-6)
    c = update_alignment(model, model, b, 0.99, loss="mse")
    assert -1.0 <= c <= 1.0
    with pytest.raises(ValueError, match="unknown loss"):
        update_alignment(model, model, b, 0.99, loss="l1")


def test_td_objective_mse():
    torch.manual_seed(0)
    model = q_network((16,))
    b = _batch()
    obj = td_objective(model, b, 0.9, "frozen", loss="mse")
    with torch.no_grad():
        y = b["rewards"] + 0.9 * (1 - b["terminated"]) * model(b["next_obs"]).max(1).values
        want = F.mse_loss(model(b["obs"]).gather(1, b["actions"][:, None])[:, 0], y)
    params = {k: v.detach() for k, v in model.named_parameters()}
    assert float(obj(params)["loss"]) == pytest.approx(float(want), rel=1e-6)
    huber = td_objective(model, b, 0.9, "frozen")
    assert float(huber(params)["loss"]) != pytest.approx(float(want), rel=1e-3)
