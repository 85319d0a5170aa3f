"""The batched trainer against a plain one-run PyTorch Q-learner, and its per-run independence."""
import copy
import dataclasses
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lossurf.rl import (DQNConfig, QNetConfig, RLConfig, epsilon, evaluate_policy, q_network,
                        train_dqn, train_many, train_qnetwork, train_runs)
from lossurf.rl.stacked import StackedMLP, StackedOptimizer, clip_per_run
from lossurf.rl.trainer import TEST_SEED, _UNIFORM_CHUNK

SMALL = dict(hidden=(32, 32), batch_size=16, learning_starts=100, train_freq=2, eps_steps=300,
             target_update=25, eval_every=100_000, eval_episodes=2, test_episodes=3, surface_batch=50,
             checkpoint_every=50, threads=1)


def small(total_steps=500, **kw):
    """About 200 updates of a small network: (500 - 100) / 2."""
    return RLConfig(total_steps=total_steps, **{**SMALL, **kw})


def reference_run(cfg: RLConfig, seed: int):
    """The plain way, one run: gym.make, an nn.Module, torch.optim, clip_grad_norm_, the same random streams.
    Returns per-update losses, pre-clip norms, max |Q| of the batch, and the final parameters. On one
    thread: tiny operations on two threads of a busy 2-core machine took 50x longer (24 s against 0.5 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _reference_run(cfg, seed)
    finally:
        torch.set_num_threads(threads)


def _reference_run(cfg: RLConfig, seed: int):
    torch.manual_seed(seed)
    model = q_network(cfg.hidden)
    target = copy.deepcopy(model)
    opt = (torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.SGD)(model.parameters(), lr=cfg.lr)
    explore_rng, action_rng, replay_rng = [np.random.default_rng(c) for c in np.random.SeedSequence(seed).spawn(3)]
    coins, random_actions = explore_rng.random(cfg.total_steps), action_rng.integers(0, 2, cfg.total_steps)
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=seed)
    memory, losses, norms, qmax, returns, ep = [], [], [], [], [], 0.0
    for t in range(1, cfg.total_steps + 1):
        if coins[t - 1] < epsilon(t, cfg):
            action = int(random_actions[t - 1])
        else:
            with torch.no_grad():
                action = int(model(torch.as_tensor(obs)[None]).argmax())
        next_obs, reward, term, trunc, _ = env.step(action)
        memory.append((obs, action, reward, next_obs, float(term)))
        ep += reward
        obs = next_obs
        if term or trunc:
            returns.append(ep)
            ep = 0.0
            obs, _ = env.reset()
        if t <= cfg.learning_starts or t % cfg.train_freq:
            continue
        for _ in range(cfg.gradient_steps):
            u, size = len(losses), len(memory)
            if cfg.replay:
                if u % _UNIFORM_CHUNK == 0:
                    draws = replay_rng.random((_UNIFORM_CHUNK, cfg.batch_size))
                idx = np.minimum((draws[u % _UNIFORM_CHUNK] * size).astype(np.int64), size - 1)
            else:
                idx = np.arange(size - cfg.batch_size, size)
            o, a, r, n, d = (torch.as_tensor(np.array(x)) for x in zip(*[memory[i] for i in idx]))
            with torch.no_grad():
                next_q = (target if cfg.target_network else model)(n).max(1).values
            y = r.float() + cfg.gamma * (1.0 - d.float()) * next_q
            q = model(o)
            q_sa = q.gather(1, a[:, None]).squeeze(1)
            loss = F.smooth_l1_loss(q_sa, y) if cfg.loss == "huber" else F.mse_loss(q_sa, y)
            opt.zero_grad()
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm or float("inf"))
            opt.step()
            losses.append(loss.item()), norms.append(norm.item()), qmax.append(q.detach().abs().max().item())
            if cfg.target_network and (u + 1) % cfg.target_update == 0:
                if cfg.tau == 1.0:
                    target.load_state_dict(model.state_dict())
                else:                                                # Polyak: (1 - tau) target + tau online
                    with torch.no_grad():
                        for t_p, p in zip(target.parameters(), model.parameters()):
                            t_p.copy_((1 - cfg.tau) * t_p + cfg.tau * p)
    return {"loss": losses, "norm": norms, "qmax": qmax, "returns": returns,
            "params": {k: v.detach() for k, v in model.named_parameters()}}


CASES = {"dqn": dict(),
         "no replay": dict(replay=False),
         "no target": dict(target_network=False),
         "online q-network, sgd, mse, clip": dict(replay=False, target_network=False, batch_size=1, train_freq=1,
                                                   learning_starts=300, optimizer="sgd", lr=1e-2, loss="mse",
                                                   clip_norm=0.5),
         "two gradient steps per update time": dict(train_freq=4, gradient_steps=2),
         "polyak target, tau 0.3": dict(tau=0.3, target_update=5)}


@pytest.mark.parametrize("case", CASES)
def test_batched_trainer_equals_plain_single_run(case):
    cfg = small(**CASES[case])
    ref = reference_run(cfg, seed=5)
    run = train_runs([cfg], [5])[0]
    _assert_same_as_reference(run, ref, cfg)


INTERVENTIONS = {"huber delta 5": dict(huber_delta=5.0, target_network=False),
                 "replay window 40": dict(replay_window=40, target_network=False, loss="mse"),
                 "consecutive draws from a window of 60": dict(replay_window=60, replay_draw="consecutive"),
                 "consecutive draws from the whole memory": dict(replay_draw="consecutive", loss="mse"),
                 "clip each transition": dict(replay=False, target_network=False, loss="mse", clip_norm=0.5,
                                              clip_per="transition"),
                 "clip each huber transition": dict(clip_norm=0.2, clip_per="transition", huber_delta=3.0)}


@pytest.mark.parametrize("case", ["dqn", "online q-network, sgd, mse, clip", "polyak target, tau 0.3", *INTERVENTIONS])
def test_the_readable_one_run_loop_equals_the_batched_trainer(case):
    """lossurf.rl.one_run.q_learning, the loop a student reads, is what the batched trainer computes."""
    from lossurf.rl.one_run import q_learning
    cfg = small(**{**CASES, **INTERVENTIONS}[case])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        plain = q_learning(cfg, seed=5)
    finally:
        torch.set_num_threads(threads)
    ref = {"loss": plain["loss"], "norm": plain["grad_norm"], "qmax": plain["q_max"], "returns": plain["returns"],
           "params": plain["params"]}
    _assert_same_as_reference(train_runs([cfg], [5])[0], ref, cfg)


def _assert_same_as_reference(run, ref, cfg):
    assert len(run.log) == len(ref["loss"]) == cfg.updates >= 200
    np.testing.assert_allclose(run.log.loss, ref["loss"], rtol=2e-4, atol=1e-6)
    np.testing.assert_allclose(run.log.grad_norm, ref["norm"], rtol=2e-4, atol=1e-6)
    np.testing.assert_allclose(run.q_max, ref["qmax"], rtol=2e-4)
    assert run.episode_returns == ref["returns"]
    assert run.max_abs_q == pytest.approx(max(ref["qmax"]), rel=2e-4)
    for k, v in run.model.named_parameters():
        torch.testing.assert_close(v.detach(), ref["params"][k], rtol=1e-4, atol=1e-5)


def test_adam_and_sgd_runs_in_one_batch_each_equal_the_plain_single_run():
    adam, sgd = small(), small(optimizer="sgd", lr=0.01, loss="mse", replay=False)
    runs = train_runs([adam, sgd], [5, 6])
    _assert_same_as_reference(runs[0], reference_run(adam, seed=5), adam)
    _assert_same_as_reference(runs[1], reference_run(sgd, seed=6), sgd)


def _mixed_batch():
    base = small()
    return [dataclasses.replace(base, **kw) for kw in (
        dict(), dict(replay=False), dict(target_network=False), dict(loss="mse"),
        dict(clip_norm=0.3), dict(optimizer="sgd", lr=0.05), dict(schedule="cosine", schedule_unit="update", schedule_every=20),
        dict(target_update=7, tau=0.5, schedule="plateau"))]


def test_a_run_is_the_same_alone_and_in_a_mixed_batch_of_8():
    configs = _mixed_batch()
    seeds = [3, 4, 5, 6, 7, 8, 9, 10]
    together = train_runs(configs, seeds, [f"run {i}" for i in range(8)])
    for k in (0, 1, 4, 5, 7):
        alone = train_runs([configs[k]], [seeds[k]])[0]
        np.testing.assert_allclose(together[k].log.loss, alone.log.loss, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(together[k].log.lr, alone.log.lr, rtol=1e-6)
        assert together[k].episode_returns == alone.episode_returns
        assert together[k].label == f"run {k}" and together[k].seed == seeds[k]
    losses = [np.asarray(r.log.loss) for r in together]
    assert all(not np.allclose(losses[0], other) for other in losses[1:])       # the variants really differ


def test_clipping_per_run_equals_clip_grad_norm_on_each_run_alone():
    torch.manual_seed(0)
    models = [q_network((8,)) for _ in range(4)]
    net = StackedMLP(models[0])
    grads = torch.randn(4, net.size) * torch.tensor([[0.1], [3.0], [10.0], [2.0]])
    max_norm = torch.tensor([1.0, 1.0, float("inf"), 0.5])
    clipped = grads.clone()
    norms, was_clipped = clip_per_run(clipped, max_norm)
    for r, m in enumerate(models):
        for p, g in zip(m.parameters(), torch.split(grads[r], net.sizes)):
            p.grad = g.view_as(p).clone()
        norm = torch.nn.utils.clip_grad_norm_(m.parameters(), max_norm[r].item())
        assert norms[r].item() == pytest.approx(norm.item(), rel=1e-6)
        assert bool(was_clipped[r]) == (norm.item() > max_norm[r].item())
        torch.testing.assert_close(clipped[r], torch.cat([p.grad.reshape(-1) for p in m.parameters()]))
    assert was_clipped.tolist() == [False, True, False, True]


def test_stacked_adam_equals_torch_adam():
    torch.manual_seed(1)
    models = [q_network((8,)) for _ in range(2)]
    net = StackedMLP(models[0])
    flat = net.stack(models)
    opt = StackedOptimizer(flat, torch.tensor([1e-2, 3e-3]), torch.tensor([True, True]))
    torch_opts = [torch.optim.Adam(m.parameters(), lr=lr) for m, lr in zip(models, (1e-2, 3e-3))]
    for _ in range(20):
        grad = torch.randn_like(flat)
        opt.step(grad)
        for r, (m, o) in enumerate(zip(models, torch_opts)):
            for p, g in zip(m.parameters(), torch.split(grad[r], net.sizes)):
                p.grad = g.view_as(p).clone()
            o.step()
    for r, m in enumerate(models):
        for k, v in net.unstack(flat, r).items():
            torch.testing.assert_close(v, dict(m.named_parameters())[k].detach(), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_results_do_not_depend_on_thread_count_and_are_seeded():
    cfg = small(total_steps=400)
    one = train_runs([cfg, dataclasses.replace(cfg, replay=False)], [1, 2])
    two = train_runs([dataclasses.replace(c, threads=2) for c in (cfg, dataclasses.replace(cfg, replay=False))],
                     [1, 2])
    for a, b in zip(one, two):
        assert a.log.loss == b.log.loss and a.episode_returns == b.episode_returns
        assert all(torch.equal(a.model.state_dict()[k], b.model.state_dict()[k]) for k in a.model.state_dict())
    other = train_runs([cfg], [9])[0]
    assert other.episode_returns != one[0].episode_returns


def test_run_statistics_and_fresh_test_episodes():
    cfg = small(total_steps=600, eval_every=200, eval_episodes=2, test_episodes=4, schedule="cosine",
                schedule_unit="update", schedule_every=10, schedule_kwargs={"min_lr": 1e-5})
    run = train_runs([cfg], [2])[0]
    assert [s for s, _ in run.evals] == [200, 400, 600]
    assert len(run.log) == cfg.updates == 250
    lr = np.asarray(run.log.lr)
    assert np.all(np.diff(lr) <= 1e-12)                        # cosine never turns back up (no extra step)
    assert lr[-1] == pytest.approx(1e-5 + (cfg.lr - 1e-5) * (1 + np.cos(np.pi * 24 / 25)) / 2, rel=1e-4)
    assert run.final_test.shape == (4,) and run.best_test.shape == (4,)
    np.testing.assert_array_equal(run.final_test, evaluate_policy(run.model, 4, seed=TEST_SEED))
    np.testing.assert_array_equal(run.best_test, evaluate_policy(run.best_model, 4, seed=TEST_SEED))
    assert len(run.checkpoints) == 1 + cfg.updates // cfg.checkpoint_every + 1
    assert len(run.batch["obs"]) == cfg.surface_batch


def test_ties_in_selection_go_to_the_later_network():
    # a learning rate so small that the greedy policy never changes: every evaluation ties
    cfg = small(total_steps=600, eval_every=150, optimizer="sgd", lr=1e-7)
    run = train_runs([cfg], [0])[0]
    assert len({r for _, r in run.evals}) == 1
    final, first = run.model.state_dict(), run.checkpoints[0]
    assert all(torch.equal(v, run.best_model.state_dict()[k]) for k, v in final.items())
    assert not all(torch.equal(v, first[k]) for k, v in final.items())


def test_train_many_groups_keeps_order_and_wrappers_match():
    q = QNetConfig(total_steps=300, hidden=(16,), eval_every=150, eval_episodes=2, test_episodes=2,
                   surface_batch=50, threads=1)
    d = small(total_steps=300, replay=True)
    jobs = [(q, 0, "q0"), (d, 1, "d1"), (dataclasses.replace(q, clip_norm=1.0), 2, "q2")]
    runs = train_many(jobs)
    assert [r.label for r in runs] == ["q0", "d1", "q2"] and [r.seed for r in runs] == [0, 1, 2]
    assert runs[0].log.loss == train_qnetwork(q, seed=0).log.loss
    assert runs[1].log.loss == train_dqn(d, seed=1).log.loss
    assert len(runs[0].log) == 300 and len(runs[1].log) == 100


def test_train_many_runs_in_a_plain_script():
    code = ("from lossurf.rl import QNetConfig, train_many\n"
            "r = train_many([(QNetConfig(total_steps=50, hidden=(8,), eval_every=50, eval_episodes=1, "
            "test_episodes=1, surface_batch=10), 0, 'x')])\n"
            "print(len(r[0].log))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "50"


def test_interventions_are_the_same_alone_and_in_one_batch():
    """Huber's delta, the replay window, consecutive draws and per-transition clipping are per-run settings:
    in one batch with DQN each run computes what it computes alone."""
    configs = [small(), *(small(**kw) for kw in INTERVENTIONS.values())]
    seeds = list(range(3, 3 + len(configs)))
    together = train_runs(configs, seeds)
    for k, cfg in enumerate(configs):
        alone = train_runs([cfg], [seeds[k]])[0]
        np.testing.assert_allclose(together[k].log.loss, alone.log.loss, rtol=1e-5, atol=1e-7)
        assert together[k].episode_returns == alone.episode_returns
    clipped = [np.mean(r.log.clipped) for r in together]
    assert clipped[5] > 0 and clipped[6] > 0          # per-transition clipping acted and is logged


def test_replay_index_windows_and_consecutive_stretches():
    from lossurf.rl.trainer import replay_index
    u = np.array([[0.0, 0.5, 0.999], [0.0, 0.5, 0.999], [0.25, 0.9, 0.1]])
    idx = replay_index(u, 1000, np.array([[0], [100], [100]]), np.array([[False], [False], [True]]))
    assert idx[0].tolist() == [0, 500, 999]                    # the whole memory, as before windows existed
    assert idx[1].tolist() == [900, 950, 999]                  # the last 100 only
    assert idx[2].tolist() == [924, 925, 926]                  # three consecutive from a random start in the window
    assert replay_index(u[:1], 2, np.array([[0]]), np.array([[True]])).max() <= 1    # never past the newest


def test_q_gradient_norms_per_transition_equal_torch_func():
    torch.manual_seed(0)
    models = [q_network((7, 5)) for _ in range(3)]
    net = StackedMLP(models[0])
    flat = net.stack(models)
    x, a = torch.randn(3, 6, 4), torch.randint(0, 2, (3, 6))
    got = net.q_grad_norms(flat, x, a)
    for r, m in enumerate(models):
        params = {k: v.detach() for k, v in m.named_parameters()}
        q_of = lambda p, xi, ai: torch.func.functional_call(m, p, (xi[None],))[0].gather(0, ai.reshape(1))[0]
        g = torch.func.vmap(torch.func.grad(q_of), in_dims=(None, 0, 0))(params, x[r], a[r])
        want = torch.sqrt(sum(v.pow(2).flatten(1).sum(1) for v in g.values()))
        torch.testing.assert_close(got[r], want, rtol=1e-5, atol=1e-6)


def test_huber_delta_caps_the_pull():
    from lossurf.rl.td import td_loss
    q = torch.tensor([0.0, 0.0, 0.0], requires_grad=True)
    y = torch.tensor([0.5, 3.0, -40.0])
    (g1,) = torch.autograd.grad(td_loss(q, y, "huber", reduction="sum"), q)
    (g10,) = torch.autograd.grad(td_loss(q, y, "huber", reduction="sum", delta=10.0), q)
    assert g1.tolist() == [-0.5, -1.0, 1.0] and g10.tolist() == [-0.5, -3.0, 10.0]
    from lossurf.rl.td import td_slope                  # the pull formula the measures and the trainer share
    assert td_slope(q.detach() - y, "huber").tolist() == g1.tolist()
    assert td_slope(q.detach() - y, "huber", torch.tensor(10.0)).tolist() == g10.tolist()
    (gm,) = torch.autograd.grad(td_loss(q, y, "mse", reduction="sum"), q)
    assert td_slope(q.detach() - y, "mse").tolist() == gm.tolist()
    torch.testing.assert_close(td_loss(q, y, "huber"), F.smooth_l1_loss(q, y))


def test_bad_settings_name_the_problem():
    with pytest.raises(ValueError, match="clip_norm"):
        train_dqn(DQNConfig(clip_norm=-1.0))
    with pytest.raises(ValueError, match="gamma"):
        train_qnetwork(QNetConfig(gamma=1.0))
    with pytest.raises(ValueError, match="unknown LR schedule"):
        train_dqn(DQNConfig(total_steps=10, schedule="linear"))
    with pytest.raises(ValueError, match="unknown loss"):
        train_dqn(DQNConfig(loss="l1"))
    with pytest.raises(ValueError, match="unknown optimizer"):
        train_dqn(DQNConfig(optimizer="rmsprop"))
    with pytest.raises(ValueError, match="learning_starts"):
        train_dqn(DQNConfig(replay=False, learning_starts=0))
    with pytest.raises(ValueError, match="no update happens"):
        train_dqn(DQNConfig(total_steps=500))
    with pytest.raises(ValueError, match="these differ: total_steps"):
        train_runs([small(), small(total_steps=700)], [0, 1])
    with pytest.raises(ValueError, match="seeds must be integers"):
        train_runs([small()], [0.5])
    with pytest.raises(ValueError, match="RLConfig"):
        train_many([({"lr": 1e-3}, 0, "x")])
    with pytest.raises(ValueError, match="huber_delta"):
        small(huber_delta=0.0).check()
    with pytest.raises(ValueError, match="replay_window"):
        small(replay_window=8).check()
    with pytest.raises(ValueError, match="set replay=True"):
        small(replay=False, replay_window=100).check()
    with pytest.raises(ValueError, match="unknown replay_draw"):
        small(replay_draw="sorted").check()
    with pytest.raises(ValueError, match="unknown clip_per"):
        small(clip_per="layer").check()


def test_thread_count_is_the_configs_setting_while_training_and_is_restored():
    from lossurf.rl.trainer import training_threads
    assert training_threads([DQNConfig(threads=3), DQNConfig()]) == 3
    before = torch.get_num_threads()
    torch.set_num_threads(1 if before != 1 else 2)
    try:
        wanted = torch.get_num_threads()
        train_runs([small(total_steps=150, threads=None)], [0])
        assert torch.get_num_threads() == wanted
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="threads"):
        train_runs([small(threads=0)], [0])


def test_step_log_is_the_length_of_each_parameter_change():
    cfg = small(total_steps=300, checkpoint_every=1, clip_norm=0.5)
    run = train_runs([cfg, dataclasses.replace(cfg, optimizer="sgd", lr=0.01)], [0, 1])
    for r in run:
        flat = [torch.cat([v.reshape(-1) for v in c.values()]) for c in r.checkpoints[:-1]]
        moved = [float((b - a).norm()) for a, b in zip(flat[:-1], flat[1:])]
        np.testing.assert_allclose(r.step, moved, rtol=1e-3, atol=1e-7)
        assert r.checkpoint_updates == list(range(cfg.updates + 1)) + [cfg.updates]


def test_schedules_step_per_episode_and_decay_floor_reaches_its_floor():
    floor = 4e-4
    cfg = small(total_steps=800, schedule="decay_floor", schedule_kwargs={"floor_gamma": 0.8, "min_lr": floor})
    run = train_runs([cfg], [0])[0]
    assert cfg.unit == "episode" and cfg.schedule_units is None
    lr = np.asarray(run.log.lr)
    changes = int(np.sum(np.diff(lr) != 0))
    started = [e for e in run.episode_ends if e > cfg.learning_starts]
    assert 0 < changes <= len(started)                        # at most one change per finished episode
    assert lr[-1] == pytest.approx(floor)                     # and it does reach the floor
    assert lr[0] == pytest.approx(cfg.lr)


def test_plateau_watches_recent_training_returns_and_cosine_spans_rounds():
    plateau = small(total_steps=900, schedule="plateau", schedule_kwargs={"plateau_patience": 2})
    run = train_runs([plateau], [0])[0]
    assert min(run.log.lr) < plateau.lr                       # short episodes stall: it halves
    cosine = small(total_steps=600, schedule="cosine", schedule_kwargs={"min_lr": 1e-5})
    assert cosine.unit == "round" and cosine.schedule_units == cosine.updates // cosine.target_update
    lr = np.asarray(train_runs([cosine], [0])[0].log.lr)
    assert len(np.unique(lr)) == cosine.schedule_units       # one value per round
    with pytest.raises(ValueError, match="known length"):
        small(schedule="cosine", schedule_unit="episode").check()


def test_checkpoint_batches_and_the_best_networks_batch():
    cfg = small(total_steps=500, checkpoint_batch=40, eval_every=250)
    run = train_runs([cfg], [0])[0]
    assert len(run.checkpoint_batches) == len(run.checkpoints)
    assert run.checkpoint_batches[0] is None                  # nothing experienced yet at update 0
    assert all(len(b["obs"]) == 40 for b in run.checkpoint_batches[1:])
    torch.testing.assert_close(run.checkpoint_batches[-1]["obs"], run.batch["obs"][-40:])
    assert len(run.best_batch["obs"]) == cfg.surface_batch


def test_training_leaves_the_callers_global_generators_alone():
    import random

    def draws():
        return random.random(), float(np.random.random()), float(torch.rand(()))

    torch.manual_seed(11), np.random.seed(11), random.seed(11)
    want = draws()
    torch.manual_seed(11), np.random.seed(11), random.seed(11)
    train_runs([small(total_steps=150)], [0])
    assert draws() == want
