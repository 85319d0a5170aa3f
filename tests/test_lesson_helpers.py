"""Notebook 01's overshoot slice (against losses computed by hand) and its pictures (layout)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import lossurf as ls
from lossurf.mnist.classifier import overshoot_slice
from lossurf.mnist.figures import layer_bars, plane_with_paths, run_color, schedule_panels, seed_curves
from lossurf.result import SurfaceResult, Trajectory


def _problem():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    g = torch.Generator().manual_seed(1)
    x = torch.randn(60, 4, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    start = {k: v.detach().clone() for k, v in model.named_parameters()}
    far = {k: 4 * v for k, v in start.items()}                           # a steeper point: a larger gradient
    return model, x, y, [start, far]


def _plain(params, x, y):
    """Loss and gradient at ``params`` the plain way: an nn.Module, autograd."""
    m = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    m.load_state_dict(params)
    loss = F.cross_entropy(m(x), y)
    grads = torch.autograd.grad(loss, list(m.parameters()))
    return float(loss), dict(zip(params, grads))


def test_overshoot_slice_steps_and_losses_are_the_plain_ones():
    model, x, y, checkpoints = _problem()
    lr, clip = 40.0, 0.01
    shoot = overshoot_slice(ls.Supervised(model, x, y), checkpoints, model, x, y, lr=lr, clip_norm=clip)
    loss0, g = _plain(checkpoints[shoot.index], x, y)
    norm = float(torch.sqrt(sum((v ** 2).sum() for v in g.values())))
    assert shoot.grad_norm == pytest.approx(norm, rel=1e-5)
    assert shoot.raw_step == pytest.approx(lr * norm, rel=1e-5)
    assert shoot.clipped_step == pytest.approx(lr * clip, rel=1e-5)
    moved = lambda step: {k: v - step * g[k] / norm for k, v in checkpoints[shoot.index].items()}
    assert shoot.start_loss == pytest.approx(loss0, rel=1e-5)
    assert shoot.raw_loss == pytest.approx(_plain(moved(shoot.raw_step), x, y)[0], rel=1e-4)
    assert shoot.clipped_loss == pytest.approx(_plain(moved(shoot.clipped_step), x, y)[0], rel=1e-5)
    assert shoot.found and shoot.raw_loss > shoot.start_loss > shoot.clipped_loss
    assert shoot.index == 0                                       # the first checkpoint that overshoots


def test_overshoot_slice_without_an_overshoot_takes_the_largest_gradient():
    model, x, y, checkpoints = _problem()
    shoot = overshoot_slice(ls.Supervised(model, x, y), checkpoints, model, x, y, lr=1e-4, clip_norm=None)
    norms = [float(torch.sqrt(sum((v ** 2).sum() for v in _plain(c, x, y)[1].values()))) for c in checkpoints]
    assert not shoot.found
    assert shoot.index == int(np.argmax(norms))
    assert shoot.raw_loss < shoot.start_loss                       # a tiny step goes down


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_plane_with_paths_draws_every_path_and_one_colour_bar():
    axis = np.linspace(-1, 1, 5)
    plane = SurfaceResult([axis, axis], {"loss": np.exp(np.add.outer(axis, axis))})
    plane.values["loss"][0, 0] = np.inf
    paths = [Trajectory(np.array([[-0.5, -0.5], [0.2, 0.1], [0.5, 0.5]]), {"loss": np.array([2.0, 1.0, 0.5])},
                        np.zeros(3), "run a: x"),
             Trajectory(np.array([[0.5, -0.5], [0.0, 0.0]]), {"loss": np.array([1.5, 0.7])}, np.zeros(2), "run b")]
    fig, ax = plt.subplots()
    norm = plane_with_paths(plane, paths, ax, symlog="x")
    assert len(fig.axes) == 2                                      # the plane and its colour bar
    assert ax.get_xscale() == "symlog" and ax.get_yscale() == "linear"
    assert norm.vmin == pytest.approx(np.log10(plane.values["loss"][np.isfinite(plane.values["loss"])].min()))
    assert {t.get_text() for t in ax.get_legend().get_texts()} >= {"run a: x", "run b", "1 diverged points"}


def test_schedule_panels_draw_each_seed_faintly_and_their_mean_and_layer_bars_one_bar_per_layer():
    lrs = {"constant": [0.1] * 30, "step": [0.1 * 0.9 ** (t // 10) for t in range(30)]}
    losses = {n: [np.linspace(2, 1, 30) + k + s for s in (0.0, 0.2)] for k, n in enumerate(lrs)}
    fig, axes = schedule_panels(lrs, losses, smooth=5)
    assert len(axes) == 2 and len(axes[0].lines) == 2
    assert len(axes[1].lines) == 2 * 3                            # two seeds and the bold centre line per schedule
    assert {t.get_text() for t in axes[1].get_legend().get_texts()} == {"constant (median of 2)", "step (median of 2)"}
    assert axes[0].lines[1].get_color() == run_color("step")
    fig, ax = plt.subplots()
    layer_bars({"sigmoid": [1e-3, 1e-2, 1.0], "relu": [0.5, 0.6, 0.7]}, ax, "norm", title="t")
    assert len(ax.patches) == 6 and ax.get_yscale() == "log"


def test_seed_curves_mean_on_a_linear_axis_median_on_a_log_one_and_nan_seeds_left_out():
    fig, ax = plt.subplots()
    seed_curves(ax, {"v2: clip 1.0": [[1.0, 2.0], [3.0, np.nan], [5.0, 4.0]]})
    np.testing.assert_allclose(ax.lines[-1].get_ydata(), [3.0, 3.0])          # the mean, the NaN seed left out
    assert ax.lines[-1].get_label() == "v2: clip 1.0 (mean of the 3 seeds while finite)"
    assert ax.lines[-1].get_color() == run_color("v2") and ax.lines[0].get_alpha() < 1
    fig, ax = plt.subplots()
    seed_curves(ax, {"v1": [[1.0], [1e16], [3.0]]}, log=True)
    np.testing.assert_allclose(ax.lines[-1].get_ydata(), [3.0])               # the median, not 3e15
    assert ax.lines[-1].get_label() == "v1 (median of 3)"


def test_run_colors_are_distinct_and_found_by_the_start_of_a_label():
    from lossurf.mnist.figures import RUN_COLORS
    assert len(set(RUN_COLORS.values())) == len(RUN_COLORS)
    assert run_color("ReLU x He (2 x He)") == RUN_COLORS["ReLU x He"] != run_color("ReLU He")
    assert run_color("calm: LR 0.1") == RUN_COLORS["calm"] and run_color("unknown") == "#555555"
