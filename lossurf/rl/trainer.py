"""Train R independent Q-learning runs in lockstep, as one batched computation.

Each env step, all runs act at once (one vectorised CartPole, one batched forward); each update, all
runs learn at once (stacked weights, batched matmuls, one backward, per-run clipping and optimiser).
A small network on a 64-row batch spends its time on Python and dispatch, so R runs cost little more
than one (the idea of PureJaxRL's population training, here in PyTorch). R = 1 is the single run: the
same code path.

Every run is seeded on its own, so which runs share the batch changes none of its random choices:
- its network from ``torch.manual_seed(seed)``, as ``q_network`` would be built alone;
- its episode start states from ``np.random.default_rng(seed)``, the very states that
  ``gym.make("CartPole-v1")`` gives after ``reset(seed=seed)`` and the resets that follow;
- epsilon coins, random actions and replay indices from three child streams of ``SeedSequence(seed)``.

Its arithmetic is the same to float rounding at every step (tested against a plain one-run PyTorch
loop and against the run alone), but not bit for bit: a batched product or a row's reduction may round
its last bit differently with other rows beside it. Q-learning amplifies last-bit differences over
tens of thousands of steps (as it does between two CPUs), so a long run trained alone and the same run
in a batch can end in different places; each is reproducible, and only the batch it was trained in
reproduces it exactly.
"""
from __future__ import annotations

import copy

import numpy as np
import torch

from ..progress import progress
from ..schedules import make_scheduler, step_scheduler
from ..seeding import DEFAULT_THREADS, device as default_device, seed_everything
from ..training import TrainLog, global_rngs_kept
from . import stacked as st
from .agents import PER_RUN, PLATEAU_WINDOW, DQNConfig, QNetConfig, RLConfig, RLRun, ReplayBuffer, q_network, shared_settings
from .env import cartpoles, initial_states, restart
from .surfaces import returns_of
from .td import td_loss, td_target

SELECTION_SEED = 10_000       # greedy evaluations during training (choose the best network) start here
TEST_SEED = 20_000            # fresh episodes for the final test: used neither in training nor in selection
RESET_LOW, RESET_HIGH = -0.05, 0.05     # CartPole-v1's reset range for all four state variables
_UNIFORM_CHUNK = 1024         # replay draws are made this many updates at a time (the same stream)


def training_threads(configs) -> int:
    """Torch threads for a batch of runs: the configs' own setting, else one.

    Every update is many small matrix products and a dozen elementwise passes: a second thread mostly
    waits at each operation's barrier, and on a busy machine (a laptop with a browser open) it waits
    badly. Measured on this 2-core CPU with other jobs running (not on an idle machine): 30 stacked runs
    of a 4-64-64-2 network, 8.7 ms per update on one thread against 19.7 ms on two; one Q-Network run,
    2.4 ms per step on one thread against 44 ms on two.
    """
    asked = [c.threads for c in configs if c.threads is not None]
    return max(asked) if asked else 1


def epsilon(step, cfg: RLConfig):
    """Exploration rate at env step ``step`` (1-based): linear from eps_start to eps_end, then flat."""
    frac = np.minimum(1.0, np.asarray(step) / max(1, cfg.eps_steps))
    return cfg.eps_start + frac * (cfg.eps_end - cfg.eps_start)


def _check_batch(configs, seeds, labels):
    if not configs:
        raise ValueError("train_runs needs at least one config")
    if len(seeds) != len(configs) or len(labels) != len(configs):
        raise ValueError(f"one seed and one label per config: got {len(configs)} configs, {len(seeds)} seeds, "
                         f"{len(labels)} labels")
    for cfg in configs:
        if not isinstance(cfg, RLConfig):
            raise ValueError(f"configs must be RLConfig/QNetConfig/DQNConfig, got {type(cfg).__name__}")
        cfg.check()
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise ValueError(f"seeds must be integers, got {s!r}")
    key = shared_settings(configs[0])
    for cfg in configs[1:]:
        if shared_settings(cfg) != key:
            diff = [a[0] for a, b in zip(key, shared_settings(cfg)) if a != b]
            raise ValueError(f"runs trained together must share everything but {', '.join(PER_RUN)}; "
                             f"these differ: {', '.join(diff)} (use train_many, which groups them)")


class _Schedules:
    """One ``torch.optim.lr_scheduler`` per run, each driving a stand-in optimizer whose LR is read back
    into the runs' learning-rate vector. Each run's schedule steps once per unit (``RLConfig.unit``):
    every ``schedule_every`` episodes the run finishes, rounds (``target_update`` updates) or updates.
    ``plateau`` watches the mean return of the run's last ``PLATEAU_WINDOW`` training episodes (it
    stalls when learning stalls, and at CartPole's cap of 500); ``cosine`` spans exactly the run's units."""

    def __init__(self, configs, lr: torch.Tensor):
        self.lr = lr
        self.units = [c.unit for c in configs]
        self.every = [c.schedule_every * (c.target_update if c.unit == "round" else 1) for c in configs]
        self.opts = [torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=c.lr) for c in configs]
        self.scheds = [make_scheduler(o, c.schedule, **{"total": max(1, c.schedule_units or 1),
                                                        "plateau_mode": "max", **c.schedule_kwargs})
                       for o, c in zip(self.opts, configs)]
        self.plateau = [c.schedule == "plateau" for c in configs]
        self.episodes = [0] * len(configs)

    def _step(self, r, returns):
        self.opts[r].step()                     # a no-op step keeps the scheduler's call order as torch expects
        metric = float(np.mean(returns[-PLATEAU_WINDOW:])) if self.plateau[r] and returns else 0.0
        step_scheduler(self.scheds[r], metric)
        self.lr[r] = self.opts[r].param_groups[0]["lr"]

    def updated(self, n: int, episode_returns):
        """``n`` updates are done: step the runs whose round or update unit just ended."""
        for r, (unit, every) in enumerate(zip(self.units, self.every)):
            if unit != "episode" and n % every == 0:
                self._step(r, episode_returns[r])

    def episode_ended(self, r: int, episode_returns):
        """Run ``r`` finished an episode (after learning has started)."""
        if self.units[r] == "episode":
            self.episodes[r] += 1
            if self.episodes[r] % self.every[r] == 0:
                self._step(r, episode_returns[r])


def train_runs(configs: list[RLConfig], seeds: list[int], labels: list[str] | None = None,
               device: torch.device | None = None) -> list[RLRun]:
    """Train one run per ``(config, seed)`` pair together; return one ``RLRun`` each, in order.

    The configs may differ only in the fields of ``agents.PER_RUN`` (replay, target network and its
    cadence, loss, optimiser, clip norm, LR and its schedule): budget, network, cadence, exploration and
    evaluation are shared, so runs compared side by side get the same environment steps, updates and
    samples per update.

    The caller's thread count and global random generators are as they were afterwards (every run
    draws from its own seeded streams).
    """
    labels = list(labels) if labels is not None else [""] * len(configs)
    _check_batch(configs, seeds, labels)
    caller_threads = torch.get_num_threads()
    try:
        with global_rngs_kept():
            return _train(configs, seeds, labels, device)
    finally:
        torch.set_num_threads(caller_threads)


def _train(configs, seeds, labels, device):
    cfg = configs[0]
    R, T, B, U = len(configs), cfg.total_steps, cfg.batch_size, cfg.updates
    seed_everything(int(seeds[0]), threads=training_threads(configs))
    dev = device or default_device()

    # --- per-run networks, randomness and settings ---------------------------------------------------
    models = []
    for s in seeds:
        torch.manual_seed(int(s))
        models.append(q_network(cfg.hidden))
    template = copy.deepcopy(models[0])
    net = st.StackedMLP(template)
    flat = net.stack(models, dev)                       # (R, P): run r's parameters in row r
    target = flat.clone()
    online_views, target_views = net.views(flat), net.views(target)   # stay current: updates are in place
    n_actions = models[0][-1].out_features

    reset_rngs = [np.random.default_rng(int(s)) for s in seeds]
    streams = [[np.random.default_rng(c) for c in np.random.SeedSequence(int(s)).spawn(3)] for s in seeds]
    coins = np.stack([st_[0].random(T) for st_ in streams])                 # (R, T): explore if < epsilon
    random_actions = np.stack([st_[1].integers(0, n_actions, T) for st_ in streams])
    replay_rngs = [st_[2] for st_ in streams]

    as_runs = lambda values, dtype: torch.tensor(values, dtype=dtype, device=dev)
    replay = np.array([c.replay for c in configs])
    use_target = np.array([c.target_network for c in configs])
    target_every = np.array([c.target_update for c in configs])
    tau = as_runs([c.tau for c in configs], torch.float32)
    huber = as_runs([c.loss == "huber" for c in configs], torch.bool)
    max_norm = as_runs([float("inf") if c.clip_norm is None else c.clip_norm for c in configs], torch.float32)
    lr = as_runs([c.lr for c in configs], torch.float32)
    opt = st.StackedOptimizer(flat, lr, as_runs([c.optimizer == "adam" for c in configs], torch.bool))
    schedules = _Schedules(configs, lr)
    target_rows = torch.as_tensor(use_target, device=dev).unsqueeze(1)

    # --- logs ---------------------------------------------------------------------------------------
    log_names = ("loss", "grad_norm", "clipped", "lr", "q_max", "step")
    logs = torch.zeros(U, len(log_names), R, device=dev)      # one row per update, written in one copy
    losses = "huber" if bool(huber.all()) else "mse" if not bool(huber.any()) else "both"
    episode_returns, episode_ends = [[] for _ in range(R)], [[] for _ in range(R)]
    evals = [[] for _ in range(R)]
    checkpoints, checkpoint_updates = [[] for _ in range(R)], []
    checkpoint_batches = [[] for _ in range(R)]
    best_batch = [None] * R
    best_value, best_params = np.full(R, -np.inf), [None] * R
    memory = ReplayBuffer(min(max(cfg.buffer_size, cfg.surface_batch), T), runs=R)
    selection = initial_states(range(SELECTION_SEED, SELECTION_SEED + cfg.eval_episodes))

    # --- environment: gymnasium's vector CartPole; resets are ours, from each run's own stream --------
    starts = np.stack([g.uniform(RESET_LOW, RESET_HIGH, size=4) for g in reset_rngs])
    venv = cartpoles(starts)
    obs = starts.astype(np.float32)
    ep_return = np.zeros(R)
    uniform = {}                                # the replay runs' draws for the current chunk of updates
    replay_runs = np.flatnonzero(replay)

    def snapshot(n: int) -> None:
        checkpoint_updates.append(n)
        for r in range(R):
            checkpoints[r].append(net.unstack(flat, r))
            if cfg.checkpoint_batch:
                checkpoint_batches[r].append(memory.latest(cfg.checkpoint_batch, run=r) if len(memory) else None)

    def update(u: int) -> None:
        size = len(memory)
        idx = np.empty((R, B), dtype=np.int64)
        idx[~replay] = memory.recent_index(B)
        if replay.any():
            if u % _UNIFORM_CHUNK == 0:     # each run's own stream, drawn a chunk of updates at a time
                uniform["draws"] = np.stack([replay_rngs[r].random((_UNIFORM_CHUNK, B)) for r in replay_runs])
            idx[replay_runs] = np.minimum((uniform["draws"][:, u % _UNIFORM_CHUNK] * size).astype(np.int64), size - 1)
        b = {k: v.to(dev) for k, v in memory.gather(idx).items()}
        with torch.no_grad():
            tp = target_views if use_target.all() else online_views if not use_target.any() else \
                torch.where(target_rows, target, flat)
            y = td_target(b["rewards"], b["terminated"], net.forward(tp, b["next_obs"]), cfg.gamma)
        live = flat.detach().requires_grad_(True)           # the same storage, tracked for this update
        q = net.forward(live, b["obs"])
        q_sa = q.gather(2, b["actions"].unsqueeze(2)).squeeze(2)
        run_loss = lambda name: td_loss(q_sa, y, name, reduction="none").mean(1)
        per_run = run_loss(losses) if losses != "both" else torch.where(huber, run_loss("huber"), run_loss("mse"))
        (grad,) = torch.autograd.grad(per_run.sum(), live)
        with torch.no_grad():
            norms, clipped = st.clip_per_run(grad, max_norm)
            step = opt.step(grad)
            logs[u] = torch.stack((per_run, norms, clipped, lr, q.abs().amax((1, 2)), step))
            n = u + 1
            sync = use_target & (n % target_every == 0)
            if sync.any():
                rows = torch.as_tensor(sync, device=dev).unsqueeze(1)
                target.copy_(torch.where(rows, torch.lerp(target, flat, tau.unsqueeze(1)), target))
        schedules.updated(n, episode_returns)
        if n % cfg.checkpoint_every == 0:
            snapshot(n)

    snapshot(0)
    u = 0
    eps = epsilon(np.arange(1, T + 1), cfg)
    desc = labels[0] if R == 1 else f"{R} runs"
    for t in progress(range(1, T + 1), desc=desc):
        actions = random_actions[:, t - 1]
        explore = coins[:, t - 1] < eps[t - 1]
        if not explore.all():
            with torch.no_grad():
                q = net.forward(online_views, torch.from_numpy(obs).to(dev).unsqueeze(1))
            actions = np.where(explore, actions, q[:, 0].argmax(-1).cpu().numpy())
        next_obs, reward, terminated, truncated, _ = venv.step(actions)
        memory.add(obs, actions, reward, next_obs, terminated)
        ep_return += reward
        done = terminated | truncated
        if done.any():
            next_obs = next_obs.copy()
            for r in np.flatnonzero(done):
                episode_returns[r].append(float(ep_return[r]))
                episode_ends[r].append(t)
                if t > cfg.learning_starts:
                    schedules.episode_ended(r, episode_returns)
                ep_return[r] = 0.0
                next_obs[r] = restart(venv, r, reset_rngs[r].uniform(RESET_LOW, RESET_HIGH, size=4))
        obs = next_obs
        if t > cfg.learning_starts and t % cfg.train_freq == 0:
            for _ in range(cfg.gradient_steps):
                update(u)
                u += 1
        if t % cfg.eval_every == 0:
            now = {k: v.cpu() for k, v in online_views.items()}
            scores = returns_of(template, now, selection).mean(1)
            for r in range(R):
                evals[r].append((t, float(scores[r])))
                if scores[r] >= best_value[r]:          # ties go to the later, longer-trained network
                    best_value[r], best_params[r] = scores[r], net.unstack(flat, r)
                    best_batch[r] = memory.latest(cfg.surface_batch, run=r)
    venv.close()

    # --- results: final and best networks, tested on fresh episodes, batched --------------------------
    final = [net.unstack(flat, r) for r in range(R)]
    best = [b if b is not None else f for b, f in zip(best_params, final)]
    cpu = lambda p: {k: v.cpu() for k, v in p.items()}
    tests = returns_of(template, {k: torch.stack([cpu(p)[k] for p in final + best]) for k in final[0]},
                       initial_states(range(TEST_SEED, TEST_SEED + cfg.test_episodes)))
    log_lists = {k: logs[:, i].cpu().numpy().T for i, k in enumerate(log_names)}
    runs = []
    for r in range(R):
        log = TrainLog(loss=log_lists["loss"][r].tolist(), grad_norm=log_lists["grad_norm"][r].tolist(),
                       clipped=(log_lists["clipped"][r] > 0).tolist(), lr=log_lists["lr"][r].tolist())
        checkpoints[r].append(final[r])
        batch = memory.latest(cfg.surface_batch, run=r)
        if cfg.checkpoint_batch:
            checkpoint_batches[r].append(memory.latest(cfg.checkpoint_batch, run=r))
        runs.append(RLRun(model=_as_model(template, final[r]), best_model=_as_model(template, best[r]), log=log,
                          episode_returns=episode_returns[r], episode_ends=episode_ends[r], evals=evals[r],
                          q_max=log_lists["q_max"][r].tolist(), step=log_lists["step"][r].tolist(),
                          checkpoints=[cpu(c) for c in checkpoints[r]],
                          checkpoint_updates=checkpoint_updates + [U], checkpoint_batches=checkpoint_batches[r],
                          batch=batch, best_batch=best_batch[r] if best_params[r] is not None else batch,
                          label=labels[r], seed=int(seeds[r]),
                          config=configs[r], final_test=tests[r], best_test=tests[R + r]))
    return runs


def _as_model(template, params):
    model = copy.deepcopy(template)
    model.load_state_dict({k: v.cpu() for k, v in params.items()})
    return model.eval()


def train_many(jobs) -> list[RLRun]:
    """Train every ``(config, seed, label)`` job; results in the order of ``jobs``.

    Jobs that share budget, network and cadence (see ``agents.PER_RUN``) are trained together as one
    batched computation; each group runs in turn.
    """
    jobs = list(jobs)
    groups: dict = {}
    for i, (cfg, _, _) in enumerate(jobs):
        if not isinstance(cfg, RLConfig):
            raise ValueError(f"jobs take an RLConfig (QNetConfig, DQNConfig), got {type(cfg).__name__}")
        groups.setdefault(shared_settings(cfg), []).append(i)
    results = [None] * len(jobs)
    for idx in groups.values():
        runs = train_runs([jobs[i][0] for i in idx], [jobs[i][1] for i in idx], [jobs[i][2] for i in idx])
        for i, run in zip(idx, runs):
            results[i] = run
    return results


def train_qnetwork(cfg: RLConfig | None = None, seed: int = 0, label: str = "") -> RLRun:
    """One online Q-learning run (a ``QNetConfig`` by default)."""
    return train_runs([cfg or QNetConfig()], [seed], [label])[0]


def train_dqn(cfg: RLConfig | None = None, seed: int = 0, label: str = "") -> RLRun:
    """One DQN run (a ``DQNConfig`` by default)."""
    return train_runs([cfg or DQNConfig()], [seed], [label])[0]
