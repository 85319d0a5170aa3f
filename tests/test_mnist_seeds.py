"""Notebook 01's comparisons over seeds and the measurements its new verdicts read."""
import lossurf  # noqa: F401  (first: pins the arithmetic)
import numpy as np
import pytest
import torch

from lossurf.mnist.classifier import mlp, train_classifier
from lossurf.mnist.lessons import line_bottom, parabola_miss, rescaled_slices
from lossurf.mnist.seeds import agree, clipping_rows, fate, finite_max, spread, train_seeds
from lossurf.objectives import Supervised
from lossurf.result import SurfaceResult


def _data(n=120, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 12, generator=g), torch.randint(0, 3, (n,), generator=g)


def test_each_seed_run_is_train_classifier_with_that_seed():
    x, y = _data()
    runs = train_seeds((12, 8, 3), (3, 5), x, y, epochs=1, batch_size=32, lr=0.2, clip_norm=0.5)
    for seed, run in zip((3, 5), runs):
        ref = train_classifier(mlp((12, 8, 3), seed=seed), x, y, epochs=1, batch_size=32, lr=0.2, clip_norm=0.5, seed=seed)
        assert run.log.loss == ref.log.loss and run.log.grad_norm == ref.log.grad_norm
        for k, v in ref.model.state_dict().items():
            assert torch.equal(run.model.state_dict()[k], v)
    assert runs[0].log.loss != runs[1].log.loss                    # other seed: other start and batches


def test_spread_agree_finite_max_and_fate():
    assert spread([1.0, 2.0, 3.0]) == "2.000 ± 1.000 (min 1.000, max 3.000)"
    assert spread([0.9340, 0.9342, 0.9338]) == "0.934 ± 0.000 (min 0.934, max 0.934)"     # no switch to 2.0e-04
    assert spread([1.4e-6, 1.6e-6]) == "1.50e-06 ± 1.41e-07 (min 1.40e-06, max 1.60e-06)"
    assert spread([0.5]) == "0.500"
    assert agree([True, False, True]) == "2 of 3 seeds"
    assert finite_max([1.0, np.inf, 5.0, np.nan]) == 5.0 and np.isnan(finite_max([np.nan]))
    assert fate({"final": np.nan, "dead": False}) == "overflowed (NaN)"
    assert fate({"final": 2.3, "dead": True}) == "guessing" and fate({"final": 0.4, "dead": False}) == "loss 0.40"


def test_clipping_rows_count_clipped_steps_per_half_against_the_runs_own_threshold():
    g = np.array([2.0, 2.0, 0.5, 2.0])
    rows = clipping_rows({"v1": [g], "v2": [g]}, {"v1": None, "v2": 1.0}, (0,), {"v1": [0.1], "v2": [0.9]})
    assert [r["% clipped, 1st half"] for r in rows] == [0.0, 100.0] and rows[1]["2nd half"] == 50.0
    assert rows[0]["first step |g| > 10"] == "-" and rows[0]["step of max"] == "0"


def _line(alphas, loss):
    return SurfaceResult(axes=[np.asarray(alphas, dtype=float)], values={"loss": np.asarray(loss, dtype=float)})


def test_line_bottom_and_parabola_miss_against_hand_computed_values():
    a = np.linspace(-1, 2, 31)
    assert line_bottom(_line(a, (a - 1.2) ** 2 + 0.1)) == pytest.approx((1.2, 0.1))
    b = np.linspace(-1, 1, 21)
    exact = _line(b, 3.0 + 0.5 * 4.0 * b ** 2)
    assert parabola_miss(exact, 0.0, 4.0, within=0.5) == pytest.approx(0.0, abs=1e-12)
    off = _line(b, 3.0 + 0.5 * 4.0 * b ** 2 * 1.2)                # 20% steeper everywhere
    assert parabola_miss(off, 0.0, 4.0, within=0.5) == pytest.approx(0.2)
    c = np.linspace(-1, 1, 201)
    tiny = _line(c, 3.0 + 0.5 * 4.0 * c ** 2 + np.where((np.abs(c) < 0.025) & (np.abs(c) > 1e-9), 1e-4, 0.0))   # a miss where the rise is < 1e-3
    assert parabola_miss(tiny, 0.0, 4.0, within=0.5) == pytest.approx(0.0, abs=1e-6)
    assert parabola_miss(tiny, 0.0, 4.0, within=0.5, floor=0.0) > 0.1


def test_filter_normalisation_makes_a_rescaled_relu_network_give_the_same_slice():
    x, y = _data()
    model = mlp((12, 8, 3), seed=0)
    center = {k: v.detach().clone() for k, v in model.named_parameters()}
    slices = rescaled_slices(Supervised(model, x, y), center, {"1.weight": 10.0, "1.bias": 10.0, "3.weight": 0.1},
                             np.linspace(-1, 1, 5), seed=0)
    same = lambda kind: np.abs(slices[kind, "original"].values["loss"] - slices[kind, "rescaled"].values["loss"]).max()
    assert slices["none", "original"].at_center() == pytest.approx(slices["none", "rescaled"].at_center(), rel=1e-5)
    assert same("filter") < 1e-4 and same("none") > 1e-2
