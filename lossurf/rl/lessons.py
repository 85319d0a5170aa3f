"""The lessons of notebooks 02 and 03, measured over every seed and printed as verdict lines.

Each function returns one line of ``lossurf.report.verdict``: a claim with a stable name (no numbers,
the same whether it holds or not) and what was measured (every seed's statistic, with its spread and how
many seeds agree), so reruns on other seeds or machines pair by claim and a failed verdict prints the
numbers it found, never the claim's wording.
"""
from __future__ import annotations

import numpy as np

from ..report import fmt, verdict
from .measures import SOLVED, fresh_scores, late_mean
from .record import RLRun

def clipping_off(claim: str) -> str:
    """The verdict of a clipping claim when ``CLIP_NORM`` is None: not tested, so not shown."""
    return verdict(claim, False, "clipping is off (CLIP_NORM = None): nothing to compare")


def spread(values, digits: int = 1) -> str:
    """``mean [min-max]`` of per-seed values, rounded."""
    v = np.asarray(values, dtype=float)
    return f"{fmt(v.mean(), digits)} [{fmt(v.min(), digits)}-{fmt(v.max(), digits)}]"


def q_range(runs: list[RLRun]) -> str:
    """The smallest and largest, over seeds, of each run's max per-state |Q|."""
    q = [r.max_abs_q for r in runs]
    return f"{fmt(min(q), 2)}-{fmt(max(q), 2)}"


def blow_ups(runs: list[RLRun], *, gamma: float, factor: float = 10) -> int:
    """How many runs passed ``factor``/(1-gamma) in max per-state |Q|."""
    return sum(r.max_abs_q > factor / (1 - gamma) for r in runs)


def blow_up(claim: str, groups: dict[str, list[RLRun]], *, gamma: float, factor: float = 10) -> str:
    """Every seed of every group passes ``factor``/(1-gamma) in max per-state |Q|."""
    limit = factor / (1 - gamma)
    n = sum(len(rs) for rs in groups.values())
    k = sum(blow_ups(rs, gamma=gamma, factor=factor) for rs in groups.values())
    parts = "; ".join(f"{label} {q_range(rs)}" for label, rs in groups.items())
    return verdict(claim, k == n, f"{k} of {n} runs past {factor:g}/(1-γ) = {limit:.0f}: max per-state |Q| {parts}")


def held(claim: str, groups: dict[str, list[RLRun]], *, gamma: float, factor: float = 2) -> str:
    """Every seed of every group keeps its max per-state |Q| below ``factor``/(1-gamma)."""
    limit = factor / (1 - gamma)
    n = sum(len(rs) for rs in groups.values())
    k = sum(r.max_abs_q < limit for rs in groups.values() for r in rs)
    parts = "; ".join(f"{label} {q_range(rs)}" for label, rs in groups.items())
    return verdict(claim, k == n, f"{k} of {n} runs below {factor:g}/(1-γ) = {limit:.0f}: max per-state |Q| {parts}")


def beats_random(claim: str, runs: list[RLRun], random_mean: float, *, factor: float = 2, need: int | None = None) -> str:
    """The best networks score above ``factor`` x random on the fresh episodes on at least ``need`` seeds
    (default: every seed); the late learning curve is quoted beside them."""
    best = [r.best_test.mean() for r in runs]
    k = sum(b > factor * random_mean for b in best)
    need = len(runs) if need is None else need
    return verdict(claim, k >= need, f"best networks {spread(best)} on fresh episodes, above {factor:g}x random "
                   f"({fmt(random_mean, 1)}) on {k} of {len(runs)} seeds; late curve {spread([late_mean(r) for r in runs])}")


def better(claim: str, a: list[RLRun], b: list[RLRun], names: tuple[str, str], *, margin: float = 50) -> str:
    """Group ``a``'s late learning curve beats group ``b``'s by more than ``margin`` on average and on
    every seed index (the same seeds), with both groups' best networks quoted."""
    la, lb = np.array([late_mean(r) for r in a]), np.array([late_mean(r) for r in b])
    k = int(np.sum(la > lb))
    holds = la.mean() > lb.mean() + margin and k == len(a)
    fa, fb = fresh_scores(a), fresh_scores(b)
    return verdict(claim, holds, f"late curve {names[0]} {spread(la)} vs {names[1]} {spread(lb)}, higher on {k} of "
                   f"{len(a)} seeds; best networks {fmt(fa.best_mean, 1)} vs {fmt(fb.best_mean, 1)}")


def solved_count(runs: list[RLRun]) -> str:
    """How many seeds' best and final networks solve CartPole (>= 475 on the fresh episodes)."""
    s = fresh_scores(runs)
    return f"solved {s.best_solved}/{s.final_solved} of {s.seeds} (best/final, >= {SOLVED})"


def same_q(claim: str, a: list[RLRun], b: list[RLRun], *, tol: float = 0.01, off: bool = False) -> str:
    """Seed by seed, two groups reach the same max per-state |Q| (within ``tol``, relative); ``off``:
    the switch that would make them differ is off, so the claim is not tested."""
    if off:
        return clipping_off(claim)
    gaps = [abs(x.max_abs_q - y.max_abs_q) / max(x.max_abs_q, y.max_abs_q) for x, y in zip(a, b)]
    k = sum(g <= tol for g in gaps)
    return verdict(claim, k == len(gaps), f"within {100 * tol:g}% on {k} of {len(gaps)} seeds "
                   f"(largest gap {100 * max(gaps):.2g}%); max per-state |Q| {q_range(a)} and {q_range(b)}")


def per_seed(claim: str, values, test, describe: str, digits: int = 2) -> str:
    """A per-seed statistic that must pass ``test`` on every seed: ``describe`` names it, its spread and
    the count of seeds that pass are the measured part."""
    v = np.asarray(values, dtype=float)
    k = int(sum(bool(test(x)) for x in v))
    return verdict(claim, k == len(v), f"{describe} {spread(v, digits)} over seeds, {k} of {len(v)} seeds pass")


def median_step(runs: list[RLRun]) -> float:
    """The median parameter step ||Δθ|| over every update of every seed."""
    return float(np.median(np.concatenate([np.asarray(r.step) for r in runs])))


def step_ratio(claim: str, a: list[RLRun], b: list[RLRun], names: tuple[str, str], low: float, high: float,
               off: bool = False) -> str:
    """The median step of group ``a`` over group ``b`` (pooled over seeds) lies in [low, high]; each seed's
    ratio is quoted with its spread."""
    if off:
        return clipping_off(claim)
    per = [float(np.median(x.step) / np.median(y.step)) for x, y in zip(a, b)]
    r = median_step(a) / median_step(b)
    return verdict(claim, low <= r <= high, f"median step {names[0]} {median_step(a):.3g}, {names[1]} "
                   f"{median_step(b):.3g} (ratio {fmt(r, 2)}; per seed {spread(per, 2)})")


def blows_up_alike(claim: str, clipped: list[RLRun], reference: list[RLRun], *, gamma: float, factor: float = 10) -> str:
    """Every seed of ``clipped`` passes ``factor``/(1-gamma), like ``reference`` (the same seeds): the
    measured part quotes how far, seed by seed, its max per-state |Q| lies from the reference's."""
    limit = factor / (1 - gamma)
    k = blow_ups(clipped, gamma=gamma, factor=factor)
    gaps = [abs(x.max_abs_q - y.max_abs_q) / max(x.max_abs_q, y.max_abs_q) for x, y in zip(clipped, reference)]
    return verdict(claim, k == len(clipped), f"{k} of {len(clipped)} runs past {factor:g}/(1-γ) = {limit:.0f}; max "
                   f"per-state |Q| {q_range(clipped)}, within 1% of the reference's on {sum(g <= 0.01 for g in gaps)} "
                   f"of {len(gaps)} seeds (largest gap {100 * max(gaps):.2g}%)")


def no_consistent_gain(claim: str, a: list[RLRun], b: list[RLRun], names: tuple[str, str]) -> str:
    """Group ``a``'s late learning curve is *not* above ``b``'s on every seed (the same seeds): no consistent
    gain. Claims such as "clipping lifts DQN's policy" flip in sign from one seed set to the next; what holds
    is that the gain is not consistent, and the measured part says which way these seeds leaned."""
    la, lb = np.array([late_mean(r) for r in a]), np.array([late_mean(r) for r in b])
    fa, fb = [r.final_test.mean() for r in a], [r.final_test.mean() for r in b]
    k = int(np.sum(la > lb))
    return verdict(claim, k < len(a), f"late curve {names[0]} {spread(la)} vs {names[1]} {spread(lb)}, {names[0]} higher "
                   f"on {k} of {len(a)} seeds; final networks {spread(fa)} vs {spread(fb)}")


def cap_sweep(claim: str, groups: dict[str, list[RLRun]], *, gamma: float, factor: float = 10) -> str:
    """A sweep from the tightest cap (first group) to the loosest (last), every group a cap of the same loss:
    the first blows up on every seed, the count never rises as the cap loosens, and the last blows up on
    at most half of the seeds; the measured part counts the blow-ups of every group."""
    counts = {label: blow_ups(rs, gamma=gamma, factor=factor) for label, rs in groups.items()}
    first, last, k = list(groups.values())[0], list(groups.values())[-1], list(counts.values())
    holds = k[0] == len(first) and all(a >= b for a, b in zip(k, k[1:])) and 2 * k[-1] <= len(last)
    parts = "; ".join(f"{label} {k} of {len(groups[label])}" for label, k in counts.items())
    return verdict(claim, holds, f"runs past {factor:g}/(1-γ) = {factor / (1 - gamma):.0f}: {parts}")


def far_apart(claim: str, high: list[RLRun], low: list[RLRun], names: tuple[str, str], *, gamma: float,
              ratio: float = 100, factor: float = 10, off: bool = False) -> str:
    """Every ``high`` run blows up, and on every seed its max per-state |Q| is at least ``ratio`` times the
    ``low`` run's (the same seeds); ``off``: the switch that would make them differ is off (not tested)."""
    if off:
        return clipping_off(claim)
    k = blow_ups(high, gamma=gamma, factor=factor)
    r = [h.max_abs_q / max(l.max_abs_q, 1e-12) for h, l in zip(high, low)]
    n = sum(x >= ratio for x in r)
    return verdict(claim, k == len(high) and n == len(r),
                   f"{k} of {len(high)} runs past {factor:g}/(1-γ) = {factor / (1 - gamma):.0f}; max per-state |Q| "
                   f"{names[0]} {q_range(high)}, {names[1]} {q_range(low)}; at least {ratio:g}x on {n} of {len(r)} seeds")


def lower_on_every_seed(claim: str, low: list[RLRun], high: list[RLRun], names: tuple[str, str]) -> str:
    """On every seed ``low``'s max per-state |Q| is below ``high``'s (the same seeds); the late curves are
    quoted beside it."""
    k = sum(a.max_abs_q < b.max_abs_q for a, b in zip(low, high))
    return verdict(claim, k == len(low), f"max per-state |Q| lower on {k} of {len(low)} seeds: {names[0]} "
                   f"{q_range(low)}, {names[1]} {q_range(high)}; late curve {spread([late_mean(r) for r in low])} "
                   f"vs {spread([late_mean(r) for r in high])}")


def ordered_medians(claim: str, groups: dict[str, list[RLRun]]) -> str:
    """The median over seeds of max per-state |Q| rises from each group to the next."""
    med = {label: float(np.median([r.max_abs_q for r in rs])) for label, rs in groups.items()}
    v = list(med.values())
    return verdict(claim, all(a < b for a, b in zip(v, v[1:])),
                   "median max per-state |Q|, in this order: " + "; ".join(f"{label} {fmt(m, 2)}" for label, m in med.items()))
