"""Q-values against measured returns, and the direction of a Q-learning update."""
import numpy as np
import pytest
import torch

from lossurf.rl import (discounted_returns, greedy_episodes, predicted_vs_actual, q_network, td_objective,
                        update_alignment, evaluate_policy)
from lossurf.rl.diagnostics import ROLLOUT_SEED


def _batch(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"obs": torch.randn(n, 4, generator=g), "actions": torch.randint(0, 2, (n,), generator=g),
            "rewards": torch.ones(n), "next_obs": torch.randn(n, 4, generator=g),
            "terminated": (torch.rand(n, generator=g) < 0.1).float()}


def test_discounted_returns():
    np.testing.assert_allclose(discounted_returns([1, 1, 1], gamma=0.5), [1.75, 1.5, 1.0])


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
    out = predicted_vs_actual(model, gamma=0.99, episodes=4)
    assert out["predicted"].shape == out["actual"].shape == out["t"].shape
    eps = greedy_episodes(model, 4)
    q0 = model(torch.as_tensor(eps[0]["obs"][:1])).max(-1).values.item()
    assert out["predicted"][0] == pytest.approx(q0)
    assert out["actual"][0] == pytest.approx(discounted_returns(eps[0]["rewards"], gamma=0.99)[0])


def test_update_alignment():
    torch.manual_seed(0)
    model = q_network((16,))
    b = _batch()
    # gamma = 0: the target does not depend on the weights, so both gradients are the same
    assert update_alignment(model, model, b, gamma=0.0) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="unknown loss"):
        update_alignment(model, model, b, gamma=0.99, loss="l1")


def _numerical_gradient(f, params, eps=1e-6):
    """Central differences of a scalar function of a float64 parameter dict, flattened."""
    out = []
    for k, v in params.items():
        for idx in range(v.numel()):
            up = {n: t.clone() for n, t in params.items()}
            down = {n: t.clone() for n, t in params.items()}
            up[k].view(-1)[idx] += eps
            down[k].view(-1)[idx] -= eps
            out.append((float(f(up)) - float(f(down))) / (2 * eps))
    return np.array(out)


@pytest.mark.parametrize("loss", ["mse", "huber"])
def test_update_alignment_is_the_cosine_of_two_numerical_gradients(loss):
    torch.manual_seed(0)
    model = q_network((6,)).double()
    b = {k: v.double() if v.is_floating_point() else v for k, v in _batch(32).items()}
    params = {k: v.detach().clone() for k, v in model.named_parameters()}
    moving = td_objective(model, b, gamma=0.99, target="moving", loss=loss)
    semi = _numerical_gradient(lambda p: td_objective(model, b, gamma=0.99, target="frozen", target_params=params,
                                                      loss=loss)(p)["loss"], params)
    full = _numerical_gradient(lambda p: moving(p)["loss"], params)
    want = semi @ full / (np.linalg.norm(semi) * np.linalg.norm(full))
    assert update_alignment(model, params, b, gamma=0.99, loss=loss) == pytest.approx(want, abs=1e-5)
