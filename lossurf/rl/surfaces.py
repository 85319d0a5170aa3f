"""TD-loss and return surfaces of a Q-network, evaluated for many parameter sets at once."""
from __future__ import annotations

import numpy as np
import torch
from torch.func import functional_call, vmap

from ..directions import Params, check_directions, parameters_of
from ..objectives import FunctionObjective
from ..progress import progress
from ..result import SurfaceResult, _check_axis, _to_numpy
from ..surface import grid_points
from .env import initial_states, run_episodes
from .td import check_loss, td_loss, td_target

TARGETS = ("frozen", "moving")


def td_objective(model: torch.nn.Module, batch: dict, *, gamma: float = 0.99, target: str = "frozen",
                 target_params: Params | None = None, loss: str = "huber") -> FunctionObjective:
    """The TD loss (``huber`` or ``mse``) on a fixed batch of transitions, as a function of the
    network's parameters.

    ``frozen``: targets r + gamma * max Q_target(s') from fixed ``target_params`` (default: the
    model's current weights) -- DQN's objective, a fixed regression problem.
    ``moving``: targets recomputed from the evaluated parameters themselves -- the Q-Network's
    objective, where every step also moves the target.
    """
    if target not in TARGETS:
        raise ValueError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    check_loss(loss)
    obs, actions, rewards = batch["obs"], batch["actions"], batch["rewards"]
    next_obs, term = batch["next_obs"], batch["terminated"]
    if target == "frozen":
        frozen = parameters_of(target_params if target_params is not None else model)
        with torch.no_grad():
            fixed_y = td_target(rewards, term, functional_call(model, frozen, (next_obs,), strict=True), gamma=gamma)

    def fn(objective, params):
        q = objective.run(params, obs)
        q_sa = q.gather(1, actions.unsqueeze(1)).squeeze(1)
        if target == "frozen":
            y = fixed_y
        else:
            y = td_target(rewards, term, objective.run(params, next_obs), gamma=gamma)
        return {"loss": td_loss(q_sa, y, loss), "q_mean": q_sa.mean()}

    n_params = sum(p.numel() for p in model.parameters())
    width = max(m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear))
    return FunctionObjective(model, fn, metrics=("loss", "q_mean"),
                             bytes_per_point=4 * (3 * n_params + 4 * len(obs) * width))


@torch.no_grad()
def returns_of(model: torch.nn.Module, stacked: Params, states: np.ndarray) -> np.ndarray:
    """Greedy returns of P parameter sets (stacked) from E start states each: shape (P, E)."""
    p = next(iter(stacked.values())).shape[0]
    e = len(states)
    buffers = {k: v for k, v in model.named_buffers()}

    def q_values(params, obs):
        return functional_call(model, {**params, **buffers}, (obs,), strict=True)

    active = {"points": np.arange(p), "params": stacked}

    def policy(obs, alive):
        # evaluate only parameter sets with an episode still running; shrink the set when it halves
        running = alive.reshape(p, e).any(1)
        if running.sum() <= len(active["points"]) // 2:
            keep = np.nonzero(running)[0]
            sel = torch.as_tensor(np.searchsorted(active["points"], keep))
            active["points"], active["params"] = keep, {k: v[sel] for k, v in active["params"].items()}
        pts = active["points"]
        actions = np.zeros((p, e), dtype=np.int64)
        o = torch.as_tensor(obs).reshape(p, e, -1)[torch.as_tensor(pts)]
        actions[pts] = vmap(q_values)(active["params"], o).argmax(-1).numpy()
        return actions.reshape(-1)

    return run_episodes(policy, np.tile(states, (p, 1))).reshape(p, e)


@torch.no_grad()
def return_surface(model: torch.nn.Module, center, directions: list[Params], alphas, betas=None,
                   episodes: int = 5, seed: int = 10_000, chunk_points: int = 512) -> SurfaceResult:
    """Mean greedy episode return of the perturbed policy at every grid point (a line if no betas).

    All points and episodes of a chunk play at once: one batched CartPole, one vmapped network.
    Episodes start from the states of ``gym.make("CartPole-v1").reset(seed=seed + i)``.
    """
    center = parameters_of(center)
    check_directions(center, directions)
    axes = [_check_axis(alphas, "alphas")] + ([] if betas is None else [_check_axis(betas, "betas")])
    if len(axes) != len(directions):
        raise ValueError(f"{len(directions)} directions need {len(directions)} axes, got {len(axes)}")
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    mesh = np.meshgrid(*axes, indexing="ij")
    coefs = torch.tensor(np.stack([m.ravel() for m in mesh], 1), dtype=torch.float32)
    states = initial_states(range(seed, seed + episodes))
    out = []
    for chunk in progress(list(torch.split(coefs, chunk_points)), desc="return surface"):
        out.append(returns_of(model, grid_points(center, directions, chunk), states))
    rets = np.concatenate(out)
    shape = [len(a) for a in axes]
    values = {"return": rets.mean(1).reshape(shape), "return_std": rets.std(1).reshape(shape)}
    meta = {"kind": "return", "episodes": episodes, "seed": seed}
    return SurfaceResult(axes, values, [_to_numpy(d) for d in directions], _to_numpy(center), meta)
