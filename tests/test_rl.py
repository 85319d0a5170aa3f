import copy

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn as nn

import lossurf as ls
from lossurf.rl import (ReplayBuffer, evaluate_policy, initial_states, q_network,
                        return_surface, run_episodes, td_objective, td_targets)
from lossurf.rl.env import MAX_STEPS, cartpoles, restart
from lossurf.rl.measures import td_pull


def gym_episode(states0, actions_fn, seed):
    """The plain way: gym.make + reset(seed) + step, recording observations."""
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=seed)
    assert np.allclose(env.unwrapped.state, states0)
    seen, ret, t = [obs], 0.0, 0
    while True:
        obs, r, term, trunc, _ = env.step(int(actions_fn(obs[None], t)[0]))
        ret += r
        t += 1
        seen.append(obs)
        if term or trunc:
            return np.array(seen), ret, term, trunc


@pytest.mark.parametrize("kind", ["balance", "random"])
def test_batched_cartpole_matches_gymnasium_step_for_step(kind):
    seeds = [3, 7, 11]
    states = initial_states(seeds)
    rng = np.random.default_rng(0)
    table = rng.integers(0, 2, size=(600, len(seeds)))
    if kind == "balance":        # a controller that keeps the pole up until truncation at 500
        policy = lambda obs, t=None: (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(np.int64)
    else:                        # random actions: the pole falls (termination)
        policy = None
    recorded = []

    def batched_policy(obs, alive):
        recorded.append(obs.copy())
        t = len(recorded) - 1
        return policy(obs) if policy else table[t]

    returns = run_episodes(batched_policy, states)
    for i, s in enumerate(seeds):
        single = (lambda o, t: policy(o)) if policy else (lambda o, t, i=i: table[t, i:i + 1])
        obs, ret, term, trunc = gym_episode(states[i], single, s)
        n = len(obs) - 1
        np.testing.assert_array_equal(np.stack([r[i] for r in recorded[:n]]), obs[:n])
        assert returns[i] == ret
        if kind == "balance":
            assert trunc and not term and ret == 500
        else:
            assert term and ret < 100


def test_evaluate_policy_equals_plain_loop():
    torch.manual_seed(0)
    model = q_network((16,))
    greedy = lambda o, t: model(torch.as_tensor(o)).argmax(-1).numpy()
    with torch.no_grad():
        plain = [gym_episode(initial_states([s])[0], greedy, s)[1] for s in range(10_000, 10_004)]
        assert evaluate_policy(model, episodes=4).tolist() == plain


def test_return_surface_point_equals_loop():
    torch.manual_seed(1)
    model = q_network((16,))
    dirs = ls.random_directions(model, 2, seed=0)
    a = np.array([-0.5, 0.0, 0.5])
    surf = return_surface(model, model, dirs, a, a, episodes=3, seed=5)
    center = ls.parameters_of(model)
    for i, j in [(0, 2), (1, 1), (2, 0)]:
        point = {k: center[k] + a[i] * dirs[0][k] + a[j] * dirs[1][k] for k in center}
        m = ls.load_params(model, point)
        with torch.no_grad():
            rets = [gym_episode(initial_states([s])[0], lambda o, t: m(torch.as_tensor(o)).argmax(-1).numpy(), s)[1]
                    for s in range(5, 8)]
        assert surf.values["return"][i, j] == pytest.approx(np.mean(rets))
    with pytest.raises(ValueError, match="episodes"):
        return_surface(model, model, dirs, a, a, episodes=0)


def test_replay_buffer_wraps_gathers_per_run_and_keeps_latest():
    buf = ReplayBuffer(5, runs=2, obs_dim=1)
    for t in range(8):
        buf.add([[t], [100 + t]], [t % 2, 1], [float(t), -float(t)], [[t + 1], [101 + t]], [t == 7, False])
    assert len(buf) == 5
    assert sorted(buf.obs[0, :, 0].tolist()) == [3, 4, 5, 6, 7]
    latest = buf.latest(3, run=0)
    assert latest["obs"][:, 0].tolist() == [5, 6, 7] and latest["terminated"].tolist() == [0, 0, 1]
    assert buf.latest(2, run=1)["obs"][:, 0].tolist() == [106, 107]
    idx = np.array([[0, 1, 2], [4, 4, 3]])
    b = buf.gather(idx)                                   # each run reads its own buffer
    assert b["obs"].shape == (2, 3, 1)
    assert torch.equal(b["obs"][0, :, 0], torch.from_numpy(buf.obs[0, [0, 1, 2], 0]))
    assert torch.equal(b["obs"][1, :, 0], torch.from_numpy(buf.obs[1, [4, 4, 3], 0]))
    assert torch.all(b["next_obs"] == b["obs"] + 1)
    with pytest.raises(ValueError, match="empty"):
        ReplayBuffer(3).gather(np.zeros((1, 1), dtype=np.int64))


def tiny_q():
    net = nn.Sequential(nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 2.0]]))   # Q(s) = (s0, 2 s1)
    return net


BATCH = {"obs": torch.tensor([[1.0, 1.0], [0.5, -1.0]]), "actions": torch.tensor([1, 0]),
         "rewards": torch.tensor([1.0, 0.0]), "next_obs": torch.tensor([[3.0, 0.5], [0.0, 0.0]]),
         "terminated": torch.tensor([0.0, 1.0])}


def test_td_loss_by_hand_both_target_forms():
    net = tiny_q()
    gamma = 0.5
    # Q(s, a): transition 1 -> Q((1,1)) = (1, 2), a=1 -> 2; transition 2 -> Q((0.5,-1)) = (0.5,-2), a=0 -> 0.5
    # frozen target with the same weights: y1 = 1 + 0.5 * max(3, 1) = 2.5; y2 = 0 (terminal)
    # Huber: |2 - 2.5| = 0.5 -> 0.125; |0.5 - 0| = 0.5 -> 0.125; mean 0.125
    frozen = td_objective(net, BATCH, gamma=gamma, target="frozen")
    center = ls.parameters_of(net)
    assert float(frozen(center)["loss"]) == pytest.approx(0.125)
    # double the weights: Q doubles to (4, 1); frozen y stays (2.5, 0): errors 1.5 -> 1.0, 1.0 -> 0.5
    double = {k: 2 * v for k, v in center.items()}
    assert float(frozen(double)["loss"]) == pytest.approx(0.75)
    # moving target follows the weights: y1 = 1 + 0.5 * max(6, 2) = 4; y2 = 0: errors 0, 1.0 -> 0.5
    moving = td_objective(net, BATCH, gamma=gamma, target="moving")
    assert float(moving(center)["loss"]) == pytest.approx(0.125)
    assert float(moving(double)["loss"]) == pytest.approx(0.25)
    y = td_targets(net, BATCH["rewards"], BATCH["next_obs"], BATCH["terminated"], gamma=gamma)
    assert y.tolist() == [2.5, 0.0]
    with pytest.raises(ValueError, match="unknown target"):
        td_objective(net, BATCH, target="lagging")


def test_td_objective_mse_by_hand():
    net, b = tiny_q(), BATCH
    # Q(s, a) = (2, 0.5); targets y = (1 + 0.5 * max(3, 1), 0) = (2.5, 0): errors 0.5 each
    params = {k: v.detach() for k, v in net.named_parameters()}
    assert float(td_objective(net, b, gamma=0.5, target="frozen", loss="mse")(params)["loss"]) == pytest.approx(0.25)
    # twice the weights: Q(s, a) = (4, 1), frozen targets stay: errors 1.5 and 1 -> (2.25 + 1) / 2
    double = {k: 2 * v for k, v in params.items()}
    assert float(td_objective(net, b, gamma=0.5, target="frozen", loss="mse")(double)["loss"]) == pytest.approx(1.625)
    # moving targets follow the weights: y = (1 + 0.5 * 6, 0) = (4, 0): errors 0 and 1 -> 0.5
    assert float(td_objective(net, b, gamma=0.5, target="moving", loss="mse")(double)["loss"]) == pytest.approx(0.5)


@pytest.mark.parametrize("loss, gamma, rest, terminal", [
    ("huber", 0.5, 0.5, -0.5),     # y1 = 1 + 0.5 * 3 = 2.5: error 0.5 (under 1, Huber's push is the error)
    ("mse", 0.5, 1.0, -1.0),       # MSE pushes with twice the error
    ("huber", 4.0, 1.0, -0.5),     # y1 = 1 + 4 * 3 = 13: error 11, Huber's push is capped at 1
    ("mse", 4.0, 22.0, -1.0)])
def test_td_pull_by_hand(loss, gamma, rest, terminal):
    out = td_pull(tiny_q(), BATCH, gamma=gamma, loss=loss)
    assert (out.terminal_share, out.from_terminal, out.from_rest, out.rest_target_above) == (0.5, terminal, rest, 1.0)


def test_td_pull_without_terminal_transitions_and_a_bad_loss():
    batch = {k: v[:1] for k, v in BATCH.items()}
    out = td_pull(tiny_q(), batch, gamma=0.5)
    assert out.terminal_share == 0.0 and out.from_terminal == 0.0
    with pytest.raises(ValueError, match="unknown loss"):
        td_pull(tiny_q(), BATCH, gamma=0.5, loss="l1")


@pytest.mark.parametrize("target", ["frozen", "moving"])
def test_td_surface_batched_equals_loop(target):
    torch.manual_seed(0)
    net = q_network((8, 8))
    g = torch.Generator().manual_seed(0)
    batch = {"obs": torch.randn(40, 4, generator=g), "actions": torch.randint(0, 2, (40,), generator=g),
             "rewards": torch.ones(40), "next_obs": torch.randn(40, 4, generator=g),
             "terminated": (torch.rand(40, generator=g) < 0.2).float()}
    obj = td_objective(net, batch, target=target)
    dirs = ls.random_directions(net, 2, seed=1)
    a = np.linspace(-1, 1, 5)
    batched = ls.loss_plane(obj, net, dirs, a, a, method="vmap", chunk_size=6)
    loop = ls.loss_plane(obj, net, dirs, a, a, method="loop")
    np.testing.assert_allclose(batched.values["loss"], loop.values["loss"], rtol=1e-5, atol=1e-7)
    assert batched.values["loss"].std() > 0


def test_evaluate_policy_leaves_each_modules_mode_as_it_was():
    torch.manual_seed(0)
    model = q_network((8,))
    model.train()
    model[1].eval()
    want = evaluate_policy(copy.deepcopy(model).eval(), 3)
    np.testing.assert_array_equal(evaluate_policy(model, 3), want)
    assert [m.training for m in model.modules()] == [True, True, False, True]


def _until_pole_falls(venv, action=1):
    for _ in range(MAX_STEPS):
        obs, reward, term, trunc, _ = venv.step(np.full(venv.num_envs, action))
        if term[0]:
            return obs
    raise AssertionError("the pole never fell")


FALLING = np.array([[0.0, 0.0, 0.15, 1.5], [0.0, 0.0, 0.0, 0.0]])     # sub-env 0 falls within a few steps
START = np.array([0.01, -0.02, 0.03, -0.04])


def test_gymnasium_resets_an_ended_sub_env_at_the_next_step():
    """What cartpoles/restart are built around: gymnasium's vector CartPole autoresets a sub-env on the
    step after its episode ended (reward 0, not terminated, its step count back to 0). If an upgrade
    changes that, the trainer's episode bookkeeping is wrong."""
    venv = cartpoles(FALLING)
    _until_pole_falls(venv)
    steps_other = int(venv.steps[1])
    obs, reward, term, trunc, _ = venv.step(np.array([1, 1]))
    assert reward[0] == 0.0 and not term[0] and not trunc[0] and venv.steps[0] == 0
    assert np.all(np.abs(obs[0]) <= 0.05)                        # a fresh start from the reset range
    assert reward[1] == 1.0 and venv.steps[1] == steps_other + 1


def test_restart_starts_the_sub_env_from_our_state_at_once():
    venv = cartpoles(FALLING)
    _until_pole_falls(venv)
    obs0 = restart(venv, 0, START)
    assert obs0.dtype == np.float32 and np.array_equal(obs0, START.astype(np.float32))
    obs, reward, term, _, _ = venv.step(np.array([0, 1]))
    fresh = cartpoles(START[None])
    want, _, _, _, _ = fresh.step(np.array([0]))
    assert reward[0] == 1.0 and not term[0] and venv.steps[0] == 1
    np.testing.assert_array_equal(obs[0], want[0])               # the physics step from START, no reset
    plain = gym.make("CartPole-v1").unwrapped
    plain.reset(seed=0)
    plain.state = START.copy()
    np.testing.assert_allclose(plain.step(0)[0], want[0], rtol=1e-6)


def test_every_config_field_is_marked_and_the_batch_key_follows_the_marks():
    import dataclasses
    from lossurf.rl.config import PER_RUN, scope, shared_settings
    for cls in (ls.rl.RLConfig, ls.rl.DQNConfig, ls.rl.QNetConfig):      # a subclass default keeps its mark
        for f in dataclasses.fields(cls):
            assert f.metadata.get("scope") in ("per run", "shared", "execution"), (cls.__name__, f.name)
    assert {"lr", "loss", "clip_norm", "replay", "target_network"} <= set(PER_RUN)
    assert scope("total_steps") == "shared" and scope("threads") == "execution"
    base = ls.rl.DQNConfig()
    assert shared_settings(dataclasses.replace(base, lr=1e-4, threads=3)) == shared_settings(base)
    assert shared_settings(dataclasses.replace(base, gamma=0.9)) != shared_settings(base)
