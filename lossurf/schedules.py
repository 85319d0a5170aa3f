"""Learning-rate schedules (학습률 스케줄) by name, all built from ``torch.optim.lr_scheduler``."""
from __future__ import annotations

from torch.optim import lr_scheduler

SCHEDULES = ("constant", "step", "exponential", "plateau", "cosine", "decay_floor")


def make_scheduler(optimizer, name: str, *, total: int | None = None, step_size: int = 100,
                   step_gamma: float = 0.9, exp_gamma: float = 0.99, plateau_factor: float = 0.5,
                   plateau_patience: int = 10, plateau_mode: str = "min", min_lr: float = 1e-4,
                   floor_gamma: float = 0.998):
    """A scheduler for ``optimizer``; call its ``.step()`` once per unit (a step, an epoch, an episode).

    - ``constant``: the LR never changes.
    - ``step``: x``step_gamma`` (0.9) every ``step_size`` (100) units.
    - ``exponential``: x``exp_gamma`` (0.99) per unit.
    - ``plateau``: x``plateau_factor`` (0.5) when the metric passed to ``.step(metric)`` stops improving
      for ``plateau_patience`` units (``plateau_mode='max'`` for a return, ``'min'`` for a loss).
    - ``cosine``: half a cosine from the initial LR down to ``min_lr`` over ``total`` units.
    - ``decay_floor``: lr0 * ``floor_gamma``^t, never below ``min_lr``.
    """
    if name not in SCHEDULES:
        raise ValueError(f"unknown LR schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    lr0 = float(optimizer.param_groups[0]["lr"])
    if name in ("cosine", "decay_floor") and not (0 <= min_lr < lr0):
        raise ValueError(f"min_lr must be >= 0 and below the initial LR {lr0}, got {min_lr}")
    if name == "constant":
        return lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    if name == "step":
        if step_size < 1 or not 0 < step_gamma <= 1:
            raise ValueError(f"step schedule needs step_size >= 1 and 0 < step_gamma <= 1, "
                             f"got {step_size}, {step_gamma}")
        return lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=step_gamma)
    if name == "exponential":
        if not 0 < exp_gamma <= 1:
            raise ValueError(f"exp_gamma must be in (0, 1], got {exp_gamma}")
        return lr_scheduler.ExponentialLR(optimizer, gamma=exp_gamma)
    if name == "plateau":
        if plateau_mode not in ("min", "max"):
            raise ValueError(f"plateau_mode must be 'min' (a loss) or 'max' (a return), got {plateau_mode!r}")
        return lr_scheduler.ReduceLROnPlateau(optimizer, mode=plateau_mode, factor=plateau_factor,
                                              patience=plateau_patience)
    if name == "cosine":
        if total is None or total < 1:
            raise ValueError("the cosine schedule needs total=<number of units> (>= 1) to know where it ends")
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=total, eta_min=min_lr)
    # decay_floor: LambdaLR multiplies lr0 by the factor; the floor is a factor of min_lr / lr0
    if not 0 < floor_gamma <= 1:
        raise ValueError(f"floor_gamma must be in (0, 1], got {floor_gamma}")
    floor = min_lr / lr0
    return lr_scheduler.LambdaLR(optimizer, lambda t: max(floor_gamma ** t, floor))


def step_scheduler(scheduler, metric: float | None = None) -> None:
    """Advance any scheduler by one unit; ReduceLROnPlateau gets the metric it watches."""
    if isinstance(scheduler, lr_scheduler.ReduceLROnPlateau):
        if metric is None:
            raise ValueError("the plateau schedule needs the metric it watches: step_scheduler(s, metric)")
        scheduler.step(metric)
    else:
        scheduler.step()


# The seed's time constants, written for runs of thousands of units (steps, episodes).
SEED_SETTINGS = {
    "constant": "fixed",
    "step": "x0.9 every 100 units",
    "exponential": "x0.99 per unit",
    "plateau": "x0.5 after 10 units without improvement",
    "cosine": "half a cosine down to 1e-4",
    "decay_floor": "x0.998 per unit, never below a floor",
}


def fitted_schedule(name: str, total: int, lr0: float, *, cuts: int = 10, end_factor: float = 0.1,
                    floor_factor: float = 0.1, floor_at: float = 0.5, patience_frac: float = 0.05,
                    min_lr: float = 1e-4) -> tuple[dict, str]:
    """``make_scheduler`` keywords with the seed's time constants rescaled to a run of ``total`` units.

    The seed's numbers (``SEED_SETTINGS``) fit long runs: on a 237-step run "x0.9 every 100" cuts
    twice and "x0.998 per unit" ends at x0.62, far above its floor. Here each schedule does what its
    name promises within the run: ``step`` keeps x0.9 and cuts ``cuts`` times; ``exponential`` ends at
    ``end_factor`` x the initial LR; ``plateau`` keeps x0.5 with a patience of ``patience_frac`` of
    the run; ``cosine`` keeps its end ``min_lr``; ``decay_floor`` reaches its floor
    (``floor_factor`` x the initial LR) after ``floor_at`` of the run. Returns ``(keywords, note)``,
    the note naming the seed's setting and the one used.
    """
    if name not in SCHEDULES:
        raise ValueError(f"unknown LR schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    if total < 2:
        raise ValueError(f"a schedule needs a run of at least 2 units, got total={total}")
    seed = SEED_SETTINGS[name]
    if name == "constant":
        return {}, "constant: LR fixed"
    if name == "step":
        size = max(1, total // cuts)
        n = (total - 1) // size
        return ({"step_size": size, "step_gamma": 0.9},
                f"step: x0.9 every {size} steps (default: {seed}), {n} cuts, ends at x{0.9 ** n:.2f}")
    if name == "exponential":
        gamma = end_factor ** (1 / total)
        return ({"exp_gamma": gamma},
                f"exponential: x{gamma:.4f} per step (default: {seed}), ends at x{end_factor:g}")
    if name == "plateau":
        patience = max(2, round(patience_frac * total))
        return ({"plateau_factor": 0.5, "plateau_patience": patience},
                f"plateau: x0.5 after {patience} steps without improvement of the recent mean loss "
                f"(default: {seed})")
    if name == "cosine":
        return {"min_lr": min_lr}, f"cosine: half a cosine over {total} steps down to {min_lr:g} (default: the same)"
    floor_steps = max(1, round(floor_at * total))
    gamma = floor_factor ** (1 / floor_steps)
    return ({"floor_gamma": gamma, "min_lr": floor_factor * lr0},
            f"decay_floor: x{gamma:.4f} per step (default: x0.998, not run here), floor {floor_factor:g} x LR "
            f"reached at step {floor_steps}")


def lr_curves(lr0: float, total: int, names=SCHEDULES, **kw) -> dict:
    """The LR each schedule gives over ``total`` units, for a picture (no training involved).

    ``plateau`` is fed a metric that stops improving after the first unit, so it shows its halving.
    """
    import torch

    curves = {}
    for name in names:
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr0)
        sched = make_scheduler(opt, name, total=total, **kw)
        lrs = []
        for _ in range(total):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            step_scheduler(sched, metric=1.0)
        curves[name] = lrs
    return curves
