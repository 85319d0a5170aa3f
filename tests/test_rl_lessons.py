"""The verdict helpers of notebooks 02 and 03 and the measurements behind their mechanism claims,
checked against hand-computed values."""
import numpy as np
import pytest
import torch

from lossurf.report import verdict_key, verdict_status
from lossurf.rl import RLRun, q_network
from lossurf.rl import lessons, mechanisms
from lossurf.rl.figures import CONFIG_COLORS, color
from lossurf.rl.measures import late_mean
from lossurf.training import TrainLog


def _run(evals=(), best=(0.0,), final=(0.0,), q_max=(1.0,), step=(1.0,)):
    model = q_network((4,))
    return RLRun(model=model, best_model=model, log=TrainLog(), evals=[(i, v) for i, v in enumerate(evals)],
                 q_max=list(q_max), step=list(step), best_test=np.asarray(best, float), final_test=np.asarray(final, float))


def test_late_mean_is_the_mean_of_the_last_half_of_the_curve():
    assert late_mean(_run(evals=[0, 0, 10, 20])) == 15.0
    assert late_mean(_run(evals=[0, 0, 0, 10, 20])) == 15.0     # round(2.5) = 2: the last 2 evaluations
    assert late_mean(_run(evals=[4, 8]), fraction=1.0) == 6.0
    assert np.isnan(late_mean(_run()))
    with pytest.raises(ValueError):
        late_mean(_run(evals=[1]), fraction=0)


def test_a_verdict_keeps_its_claim_and_quotes_what_was_measured_either_way():
    high = [_run(q_max=[1e6]), _run(q_max=[1e7])]
    line = lessons.blow_up("it blows up", {"a": high}, gamma=0.99)
    assert verdict_status(line) == "shown" and verdict_key(line) == "it blows up" and "2 of 2 runs" in line
    line = lessons.blow_up("it blows up", {"a": high + [_run(q_max=[50.0])]}, gamma=0.99)
    assert verdict_status(line) == "not shown" and verdict_key(line) == "it blows up" and "2 of 3 runs" in line


def test_better_needs_every_seed_and_the_margin():
    a = [_run(evals=[0, 300]), _run(evals=[0, 400])]
    b = [_run(evals=[0, 100]), _run(evals=[0, 350])]
    assert verdict_status(lessons.better("a beats b", a, b, ("a", "b"))) == "shown"     # 350 vs 225, both seeds
    b[1] = _run(evals=[0, 450])
    line = lessons.better("a beats b", a, b, ("a", "b"))
    assert verdict_status(line) == "not shown" and "higher on 1 of 2 seeds" in line


def test_per_seed_counts_and_same_q_compares_seed_by_seed():
    assert "2 of 3 seeds pass" in lessons.per_seed("c", [1, 2, 3], lambda x: x > 1, "x")
    a, b = [_run(q_max=[100.0]), _run(q_max=[200.0])], [_run(q_max=[100.5]), _run(q_max=[250.0])]
    assert "within 1% on 1 of 2 seeds" in lessons.same_q("same", a, b)
    assert verdict_status(lessons.same_q("same", a, a)) == "shown"
    assert verdict_status(lessons.same_q("same", a, a, off=True)) == "not shown"


def test_lag1_against_numpy_and_on_a_constant_series():
    v = np.random.default_rng(0).normal(size=50).cumsum()
    assert mechanisms.lag1(v) == pytest.approx(np.corrcoef(v[:-1], v[1:])[0, 1])
    assert np.isnan(mechanisms.lag1(np.ones(10)))


def test_q_along_trajectories_of_a_network_whose_q_is_a_constant():
    model = torch.nn.Linear(4, 2)
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.constant_(model.bias, 1000.0)          # Q = 1000 everywhere: every target 1 + 990 < 1000
    out = mechanisms.q_along_trajectories(model, gamma=0.99, episodes=3)
    assert out["target_above"] == 0.0 and out["rise"] == pytest.approx(1.0)
    torch.nn.init.constant_(model.bias, 10.0)            # 1 + 9.9 > 10: every target above Q
    assert mechanisms.q_along_trajectories(model, gamma=0.99, episodes=3)["target_above"] == 1.0


def test_one_colour_per_configuration_and_v_names_keep_theirs():
    assert color("v1: Huber, no clip") == color("v1: DQN, no clip") == CONFIG_COLORS["v1"]
    assert color("huber: DQN (replay + target)") == color("v2: DQN, clip") == CONFIG_COLORS["v2"]
    assert color("mse: replay only") == CONFIG_COLORS["replay only"]
    ingredients = ["replay only", "target net only", "neither", "DQN (replay + target)"]
    assert len({CONFIG_COLORS[k] for k in ingredients}) == 4
    others = [k for k in CONFIG_COLORS if k not in ("DQN (replay + target)",)]
    assert len({CONFIG_COLORS[k] for k in others}) == len(others)      # only DQN shares v2's colour: it is v2


def test_blows_up_alike_needs_every_seed_past_the_limit_and_reports_the_gap():
    ref = [_run(q_max=[1e8]), _run(q_max=[2e8])]
    line = lessons.blows_up_alike("alike", [_run(q_max=[1e8]), _run(q_max=[1.8e8])], ref, gamma=0.99)
    assert verdict_status(line) == "shown" and "within 1% of the reference's on 1 of 2 seeds (largest gap 10%)" in line
    assert verdict_status(lessons.blows_up_alike("alike", [_run(q_max=[1e8]), _run(q_max=[50.0])], ref, gamma=0.99)) == "not shown"


def test_no_consistent_gain_fails_only_when_every_seed_gains():
    a = [_run(evals=[300], final=[1]), _run(evals=[100], final=[1])]
    b = [_run(evals=[200], final=[1]), _run(evals=[200], final=[1])]
    assert verdict_status(lessons.no_consistent_gain("no gain", a, b, ("a", "b"))) == "shown"
    a[1] = _run(evals=[250], final=[1])
    line = lessons.no_consistent_gain("no gain", a, b, ("a", "b"))
    assert verdict_status(line) == "not shown" and "a higher on 2 of 2 seeds" in line


def test_cap_sweep_needs_the_tight_cap_to_blow_up_everywhere_and_the_loose_one_on_at_most_half():
    boom, calm = (lambda: _run(q_max=[1e8])), (lambda: _run(q_max=[150.0]))
    groups = {"δ=1": [boom(), boom(), boom()], "δ=10": [boom(), boom(), boom()], "δ=100": [boom(), calm(), calm()]}
    line = lessons.cap_sweep("the cap decides", groups, gamma=0.99)
    assert verdict_status(line) == "shown" and "δ=1 3 of 3; δ=10 3 of 3; δ=100 1 of 3" in line
    groups["δ=10"] = [calm(), calm(), calm()]                       # fewer at δ=10 than at δ=100: the count must not rise
    assert verdict_status(lessons.cap_sweep("the cap decides", groups, gamma=0.99)) == "not shown"
    groups["δ=10"] = [boom(), boom(), boom()]
    groups["δ=100"] = [boom(), boom(), calm()]                      # two of three still blow up: not "most seeds"
    assert verdict_status(lessons.cap_sweep("the cap decides", groups, gamma=0.99)) == "not shown"
    groups["δ=1"][0] = calm()                                       # the tight cap must blow up on every seed
    groups["δ=100"] = [calm(), calm(), calm()]
    assert verdict_status(lessons.cap_sweep("the cap decides", groups, gamma=0.99)) == "not shown"


def test_far_apart_lower_on_every_seed_and_ordered_medians():
    high = [_run(q_max=[1e8]), _run(q_max=[5e7])]
    low = [_run(q_max=[500.0]), _run(q_max=[600.0])]
    assert verdict_status(lessons.far_apart("apart", high, low, ("a", "b"), gamma=0.99)) == "shown"
    assert "clipping is off" in lessons.far_apart("apart", high, low, ("a", "b"), gamma=0.99, off=True)
    assert verdict_status(lessons.far_apart("apart", high, [_run(q_max=[500.0]), _run(q_max=[1e6])], ("a", "b"),
                                            gamma=0.99)) == "not shown"      # only 50x on the second seed
    line = lessons.lower_on_every_seed("lower", low, high, ("low", "high"))
    assert verdict_status(line) == "shown" and "lower on 2 of 2 seeds" in line
    assert verdict_status(lessons.lower_on_every_seed("lower", [low[0], _run(q_max=[1e9])], high, ("l", "h"))) == "not shown"
    ordered = {"a": low, "b": [_run(q_max=[1e4]), _run(q_max=[2e4])], "c": high}
    assert verdict_status(lessons.ordered_medians("rises", ordered)) == "shown"
    assert verdict_status(lessons.ordered_medians("rises", {"c": high, "a": low})) == "not shown"
