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
from ..seeding import device as default_device, seed_everything
from ..training import TrainLog
from ..model_state import global_rngs_kept
from . import stacked as st
from .config import PER_RUN, PLATEAU_WINDOW, DQNConfig, QNetConfig, RLConfig, shared_settings
from .record import RLRun, network_with
from .replay import ReplayBuffer
from .qnet import q_network
from .env import cartpoles, initial_states, restart
from .surfaces import returns_of
from .td import td_loss, td_slope, td_target

SELECTION_SEED = 10_000       # greedy evaluations during training (choose the best network) start here
TEST_SEED = 20_000            # fresh episodes for the final test: used neither in training nor in selection
RESET_LOW, RESET_HIGH = -0.05, 0.05     # CartPole-v1's reset range for all four state variables
_UNIFORM_CHUNK = 1024         # replay draws are made this many updates at a time (the same stream)


def replay_index(uniform: np.ndarray, size: int, window, consecutive=False) -> np.ndarray:
    """Replay draws as positions 0..size-1 of the memory, oldest first (as ``ReplayBuffer.recent_index(size)``
    orders them): ``uniform`` draws in [0, 1), (runs, batch), scaled onto the whole memory (``size``
    transitions) or, where ``window`` > 0, onto its last ``window`` transitions. Where ``consecutive``, a
    run's batch is instead the stretch of consecutive transitions that starts at its first draw."""
    span = np.where(window > 0, np.minimum(window, size), size)
    idx = size - span + np.minimum((uniform * span).astype(np.int64), span - 1)
    if np.any(consecutive):
        B = uniform.shape[-1]
        room = np.maximum(span - B, 0) + 1                           # where a stretch of B can start
        start = size - span + np.minimum((uniform[..., :1] * room).astype(np.int64), room - 1)
        idx = np.where(consecutive, np.minimum(start + np.arange(B), size - 1), idx)
    return idx


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

    The configs may differ only in the fields of ``config.PER_RUN`` (replay, target network and its
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


LOG_NAMES = ("loss", "grad_norm", "clipped", "lr", "q_max", "step")   # what every update records, per run


class _Batch:
    """The state of R runs trained together: stacked online and target weights, each run's random
    streams and settings, the replay memory, the vector env, the logs. ``_train`` drives it through
    its steps: act, step the env (store, reset), update (sample, TD loss, clip, optimise, sync), evaluate."""

    def __init__(self, configs, seeds, device):
        cfg = self.cfg = configs[0]
        self.configs, R, T = configs, len(configs), cfg.total_steps
        self.R = R
        seed_everything(int(seeds[0]), threads=training_threads(configs))
        dev = self.dev = device or default_device()
        models = []
        for s in seeds:                                 # each network as q_network would build it alone
            torch.manual_seed(int(s))
            models.append(q_network(cfg.hidden))
        self.template = copy.deepcopy(models[0])
        self.net = st.StackedMLP(self.template)
        self.flat = self.net.stack(models, dev)         # (R, P): run r's parameters in row r
        self.target = self.flat.clone()
        self.online_views = self.net.views(self.flat)   # stay current: updates are in place
        self.target_views = self.net.views(self.target)
        self._random_streams(seeds, T, models[0][-1].out_features)
        self._settings(configs)
        self.logs = torch.zeros(cfg.updates, len(LOG_NAMES), R, device=dev)   # one row per update
        self.episode_returns, self.episode_ends = [[] for _ in range(R)], [[] for _ in range(R)]
        self.evals, self.checkpoints, self.checkpoint_updates = [[] for _ in range(R)], [[] for _ in range(R)], []
        self.checkpoint_batches, self.best_batch = [[] for _ in range(R)], [None] * R
        self.best_value, self.best_params = np.full(R, -np.inf), [None] * R
        self.memory = ReplayBuffer(min(max(cfg.buffer_size, cfg.surface_batch), T), runs=R)
        self.selection = initial_states(range(SELECTION_SEED, SELECTION_SEED + cfg.eval_episodes))
        # gymnasium's vector CartPole; resets are ours, from each run's own stream
        starts = np.stack([g.uniform(RESET_LOW, RESET_HIGH, size=4) for g in self.reset_rngs])
        self.venv = cartpoles(starts)
        self.obs = starts.astype(np.float32)
        self.ep_return = np.zeros(R)

    def _random_streams(self, seeds, T: int, n_actions: int) -> None:
        self.reset_rngs = [np.random.default_rng(int(s)) for s in seeds]
        streams = [[np.random.default_rng(c) for c in np.random.SeedSequence(int(s)).spawn(3)] for s in seeds]
        self.coins = np.stack([g[0].random(T) for g in streams])                 # (R, T): explore if < epsilon
        self.random_actions = np.stack([g[1].integers(0, n_actions, T) for g in streams])
        self.replay_rngs = [g[2] for g in streams]
        self.uniform = None                     # the replay runs' draws for the current chunk of updates

    def _settings(self, configs) -> None:
        as_runs = lambda values, dtype: torch.tensor(values, dtype=dtype, device=self.dev)
        self.replay = np.array([c.replay for c in configs])
        self.replay_runs = np.flatnonzero(self.replay)
        self.use_target = np.array([c.target_network for c in configs])
        self.target_every = np.array([c.target_update for c in configs])
        self.target_rows = torch.as_tensor(self.use_target, device=self.dev).unsqueeze(1)
        self.tau = as_runs([c.tau for c in configs], torch.float32)
        # each run's loss as (name, delta); runs of one kind share one computation
        kinds = [(c.loss, c.huber_delta if c.loss == "huber" else None) for c in configs]
        self.loss_kinds = list(dict.fromkeys(kinds))
        self.loss_of = as_runs([self.loss_kinds.index(k) for k in kinds], torch.long)
        self.window = np.array([c.replay_window or 0 for c in configs])[self.replay_runs]
        self.consecutive = np.array([c.replay_draw == "consecutive" for c in configs])[self.replay_runs][:, None]
        clip = [float("inf") if c.clip_norm is None else c.clip_norm for c in configs]
        per_transition = [c.clip_per == "transition" for c in configs]
        self.max_norm = as_runs([float("inf") if t else n for n, t in zip(clip, per_transition)], torch.float32)
        self.transition_clip = as_runs([n if t else float("inf") for n, t in zip(clip, per_transition)], torch.float32) \
            if any(per_transition) else None
        self.transition_rows = torch.as_tensor(np.flatnonzero(per_transition), device=self.dev)
        self.lr = as_runs([c.lr for c in configs], torch.float32)
        self.opt = st.StackedOptimizer(self.flat, self.lr, as_runs([c.optimizer == "adam" for c in configs], torch.bool))
        self.schedules = _Schedules(configs, self.lr)

    def snapshot(self, n: int) -> None:
        """Keep every run's parameters after ``n`` updates (and its recent transitions, if asked)."""
        self.checkpoint_updates.append(n)
        for r in range(self.R):
            self.checkpoints[r].append(self.net.unstack(self.flat, r))
            if self.cfg.checkpoint_batch:
                self.checkpoint_batches[r].append(
                    self.memory.latest(self.cfg.checkpoint_batch, run=r) if len(self.memory) else None)

    @torch.no_grad()
    def act(self, t: int, eps: float) -> np.ndarray:
        """Epsilon-greedy actions of every run at env step ``t`` (the coins and random actions drawn ahead)."""
        actions = self.random_actions[:, t - 1]
        explore = self.coins[:, t - 1] < eps
        if not explore.all():
            q = self.net.forward(self.online_views, torch.from_numpy(self.obs).to(self.dev).unsqueeze(1))
            actions = np.where(explore, actions, q[:, 0].argmax(-1).cpu().numpy())
        return actions

    def step_env(self, t: int, actions: np.ndarray) -> None:
        """Step every run's CartPole, store the transitions, and restart the episodes that ended."""
        next_obs, reward, terminated, truncated, _ = self.venv.step(actions)
        self.memory.add(self.obs, actions, reward, next_obs, terminated)
        self.ep_return += reward
        done = terminated | truncated
        if done.any():
            next_obs = next_obs.copy()
            for r in np.flatnonzero(done):
                self.episode_returns[r].append(float(self.ep_return[r]))
                self.episode_ends[r].append(t)
                if t > self.cfg.learning_starts:
                    self.schedules.episode_ended(r, self.episode_returns)
                self.ep_return[r] = 0.0
                next_obs[r] = restart(self.venv, r, self.reset_rngs[r].uniform(RESET_LOW, RESET_HIGH, size=4))
        self.obs = next_obs

    def sample(self, u: int) -> dict[str, torch.Tensor]:
        """Update ``u``'s transitions: uniform from the memory (replay runs) or the most recent ones."""
        size, B = len(self.memory), self.cfg.batch_size
        idx = np.empty((self.R, B), dtype=np.int64)
        idx[~self.replay] = self.memory.recent_index(B)
        if self.replay.any():
            if u % _UNIFORM_CHUNK == 0:     # each run's own stream, drawn a chunk of updates at a time
                self.uniform = np.stack([self.replay_rngs[r].random((_UNIFORM_CHUNK, B)) for r in self.replay_runs])
            drawn = replay_index(self.uniform[:, u % _UNIFORM_CHUNK], size, self.window[:, None], self.consecutive)
            idx[self.replay_runs] = (self.memory.pos - size + drawn) % self.memory.capacity
        return {k: v.to(self.dev) for k, v in self.memory.gather(idx).items()}

    def update(self, u: int) -> None:
        """Update ``u`` of every run: the TD loss on its sample, per-run clipping and optimiser step, the
        log row, then target sync, schedules and checkpoint."""
        b = self.sample(u)
        with torch.no_grad():
            tp = self.target_views if self.use_target.all() else self.online_views if not self.use_target.any() \
                else torch.where(self.target_rows, self.target, self.flat)
            y = td_target(b["rewards"], b["terminated"], self.net.forward(tp, b["next_obs"]), gamma=self.cfg.gamma)
        live = self.flat.detach().requires_grad_(True)           # the same storage, tracked for this update
        q = self.net.forward(live, b["obs"])
        q_sa = q.gather(2, b["actions"].unsqueeze(2)).squeeze(2)
        weight = None if self.transition_clip is None else self.transition_weights(b, q_sa.detach(), y)
        run_loss = lambda kind: td_loss(q_sa, y, kind[0], reduction="none", delta=kind[1] or 1.0)
        per_item = run_loss(self.loss_kinds[0]) if len(self.loss_kinds) == 1 else \
            torch.stack([run_loss(k) for k in self.loss_kinds]).gather(0, self.loss_of[None, :, None].expand(1, *q_sa.shape)).squeeze(0)
        per_run = per_item.mean(1) if weight is None else (per_item * weight).mean(1)
        (grad,) = torch.autograd.grad(per_run.sum(), live)
        with torch.no_grad():
            norms, clipped = st.clip_per_run(grad, self.max_norm)
            if weight is not None:              # logged: the TD loss itself, and whether any transition was clipped
                per_run = per_item.mean(1)
                clipped = torch.where(self.transition_clip < float("inf"), (weight < 1).any(1), clipped)
            step = self.opt.step(grad)
            self.logs[u] = torch.stack((per_run, norms, clipped, self.lr, q.abs().amax((1, 2)), step))
            self.sync(u + 1)
        self.schedules.updated(u + 1, self.episode_returns)
        if (u + 1) % self.cfg.checkpoint_every == 0:
            self.snapshot(u + 1)

    @torch.no_grad()
    def transition_weights(self, b: dict, q_sa: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-transition clipping as loss weights: transition i's gradient g_i = dL_i/dQ · dQ(s_i, a_i)/dθ is
        scaled by min(1, clip / ||g_i||) (the runs that clip per transition; weight 1 for the others), so the
        update averages the clipped per-transition gradients, as DP-SGD does, without forming them."""
        rows = self.transition_rows
        err = (q_sa - y)[rows]
        kind = self.loss_of[rows]
        deltas = torch.tensor([d or 1.0 for _, d in self.loss_kinds], device=self.dev)[kind].unsqueeze(1)
        is_mse = torch.tensor([k == "mse" for k, _ in self.loss_kinds], device=self.dev)[kind].unsqueeze(1)
        dl_dq = torch.where(is_mse, td_slope(err, "mse"), td_slope(err, "huber", deltas))
        norms = dl_dq.abs() * self.net.q_grad_norms(self.flat[rows], b["obs"][rows], b["actions"][rows])
        weight = torch.ones_like(q_sa)
        weight[rows] = torch.clamp(self.transition_clip[rows].unsqueeze(1) / (norms + 1e-6), max=1.0)
        return weight

    @torch.no_grad()
    def sync(self, n: int) -> None:
        """After ``n`` updates: the target runs due a sync move their target weights (hard, or Polyak)."""
        sync = self.use_target & (n % self.target_every == 0)
        if sync.any():
            rows = torch.as_tensor(sync, device=self.dev).unsqueeze(1)
            self.target.copy_(torch.where(rows, torch.lerp(self.target, self.flat, self.tau.unsqueeze(1)), self.target))

    def evaluate(self, t: int) -> None:
        """Greedy returns on the selection episodes; a run's best network so far is kept (ties: the later)."""
        now = {k: v.cpu() for k, v in self.online_views.items()}
        scores = returns_of(self.template, now, self.selection).mean(1)
        for r in range(self.R):
            self.evals[r].append((t, float(scores[r])))
            if scores[r] >= self.best_value[r]:
                self.best_value[r], self.best_params[r] = scores[r], self.net.unstack(self.flat, r)
                self.best_batch[r] = self.memory.latest(self.cfg.surface_batch, run=r)

    def results(self, labels, seeds) -> list[RLRun]:
        """Final and best networks, tested on fresh episodes (batched), with every run's logs."""
        cfg, R, memory = self.cfg, self.R, self.memory
        final = [self.net.unstack(self.flat, r) for r in range(R)]
        best = [b if b is not None else f for b, f in zip(self.best_params, final)]
        cpu = lambda p: {k: v.cpu() for k, v in p.items()}
        tests = returns_of(self.template, {k: torch.stack([cpu(p)[k] for p in final + best]) for k in final[0]},
                           initial_states(range(TEST_SEED, TEST_SEED + cfg.test_episodes)))
        log_lists = {k: self.logs[:, i].cpu().numpy().T for i, k in enumerate(LOG_NAMES)}
        runs = []
        for r in range(R):
            log = TrainLog(loss=log_lists["loss"][r].tolist(), grad_norm=log_lists["grad_norm"][r].tolist(),
                           clipped=(log_lists["clipped"][r] > 0).tolist(), lr=log_lists["lr"][r].tolist())
            self.checkpoints[r].append(final[r])
            batch = memory.latest(cfg.surface_batch, run=r)
            if cfg.checkpoint_batch:
                self.checkpoint_batches[r].append(memory.latest(cfg.checkpoint_batch, run=r))
            runs.append(RLRun(model=network_with(self.template, final[r]), best_model=network_with(self.template, best[r]),
                              log=log, episode_returns=self.episode_returns[r], episode_ends=self.episode_ends[r],
                              evals=self.evals[r], q_max=log_lists["q_max"][r].tolist(),
                              step=log_lists["step"][r].tolist(), checkpoints=[cpu(c) for c in self.checkpoints[r]],
                              checkpoint_updates=self.checkpoint_updates + [cfg.updates],
                              checkpoint_batches=self.checkpoint_batches[r], batch=batch,
                              best_batch=self.best_batch[r] if self.best_params[r] is not None else batch,
                              label=labels[r], seed=int(seeds[r]), config=self.configs[r],
                              final_test=tests[r], best_test=tests[R + r]))
        return runs


def _train(configs, seeds, labels, device):
    runs = _Batch(configs, seeds, device)
    cfg, T = runs.cfg, runs.cfg.total_steps
    runs.snapshot(0)
    u = 0
    eps = epsilon(np.arange(1, T + 1), cfg)
    for t in progress(range(1, T + 1), desc=labels[0] if runs.R == 1 else f"{runs.R} runs"):
        runs.step_env(t, runs.act(t, eps[t - 1]))
        if t > cfg.learning_starts and t % cfg.train_freq == 0:
            for _ in range(cfg.gradient_steps):
                runs.update(u)
                u += 1
        if t % cfg.eval_every == 0:
            runs.evaluate(t)
    runs.venv.close()
    return runs.results(labels, seeds)


def train_many(jobs) -> list[RLRun]:
    """Train every ``(config, seed, label)`` job; results in the order of ``jobs``.

    Jobs that share budget, network and cadence (see ``config.PER_RUN``) are trained together as one
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
