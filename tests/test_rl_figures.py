"""Pictures of RL runs: the window maximum every |Q| panel draws, and each figure function's layout."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from lossurf.rl import QNetConfig, RLRun, q_network
from lossurf.rl.figures import (predicted_vs_actual_panels, rounds_gif, rounds_grid, run_grid, schedule_panels,
                                step_lengths, window_max)
from lossurf.result import SurfaceResult
from lossurf.training import TrainLog


def _reference_window_max(values, width):
    """Every window of ``width`` consecutive values from the start, the last one shorter, by a loop."""
    xs, ms = [], []
    for start in range(0, len(values), width):
        chunk = [float(v) if np.isfinite(v) else float("inf") for v in values[start:start + width]]
        xs.append(start + len(chunk))
        ms.append(max(chunk))
    return xs, ms


def test_a_spike_in_the_tail_is_kept():
    q = np.ones(600)
    q[590] = 1e9
    x, m = window_max(q, 256)
    assert list(x) == [256, 512, 600]
    assert list(m) == [1.0, 1.0, 1e9]


@pytest.mark.parametrize("n, width", [(1, 256), (5, 256), (255, 256), (256, 256), (257, 256), (600, 256),
                                      (7, 1), (10, 3)])
def test_window_max_matches_a_loop_over_windows(n, width):
    values = np.random.default_rng(n).lognormal(size=n)
    x, m = window_max(values, width)
    want_x, want_m = _reference_window_max(values, width)
    assert list(x) == want_x
    assert list(m) == want_m


def test_fewer_values_than_the_width_make_one_window():
    x, m = window_max([3.0, 7.0, 2.0], 256)
    assert list(x) == [3] and list(m) == [7.0]


def test_overflowed_values_show_as_inf_and_never_hide_behind_a_finite_max():
    # NaN is what an overflowed Q becomes after inf - inf: the run diverged, so the window reads inf
    x, m = window_max([1.0, np.nan, 2.0, 3.0, -np.inf, 4.0, 5.0], 3)
    assert list(x) == [3, 6, 7]
    assert list(m) == [np.inf, np.inf, 5.0]


def test_window_max_of_nothing_is_empty_and_a_width_must_be_positive():
    x, m = window_max([], 256)
    assert len(x) == len(m) == 0
    with pytest.raises(ValueError, match="width"):
        window_max([1.0], 0)


def _run(seed, updates=300):
    torch.manual_seed(seed)
    model = q_network((8,))
    rng = np.random.default_rng(seed)
    return RLRun(model=model, best_model=model, log=TrainLog(), seed=seed, label="x", config=QNetConfig(),
                 evals=[(100 * (k + 1), float(rng.uniform(0, 500))) for k in range(4)],
                 q_max=rng.lognormal(size=updates).tolist(), step=rng.lognormal(size=updates).tolist())


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_run_grid_has_two_rows_per_group_and_draws_every_update():
    groups = {"a": [_run(0), _run(1)], "b": [_run(2)], "c": [_run(3)]}
    fig, axes = run_grid(groups, gamma=0.99, random_mean=21.8, suptitle="t")
    assert axes.shape == (2, 3)
    assert len(fig.axes) == 6
    line = axes[1, 0].get_lines()[0]           # the first seed's |Q| curve ends at the last update
    assert line.get_xdata()[-1] == 300
    assert line.get_ydata()[-1] == max(groups["a"][0].q_max[256:])


def test_step_lengths_has_one_axis_and_a_row_per_group():
    fig, ax = step_lengths({"a": [_run(0)], "b": [_run(1), _run(2)]}, title="t")
    assert len(fig.axes) == 1
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]


def test_predicted_vs_actual_panels_has_one_axis_per_network():
    rng = np.random.default_rng(0)
    checks = {name: {"actual": rng.uniform(1, 90, 50), "predicted": rng.uniform(1, 90, 50) * scale}
              for name, scale in (("honest", 1.0), ("diverged", 1e6))}
    fig = predicted_vs_actual_panels(checks, seed=0)
    assert len(fig.axes) == 2
    assert [ax.get_yscale() for ax in fig.axes] == ["linear", "log"]


def _rounds(k=3, points=5, seed=0):
    rng = np.random.default_rng(seed)
    axis = np.linspace(-1.0, 1.0, points)
    surfaces = [SurfaceResult([axis, axis], {"loss": rng.lognormal(size=(points, points))}) for _ in range(k)]
    return {"updates": [10 * (i + 1) for i in range(k)], "targets": [0] * k, "surfaces": surfaces,
            "online": rng.uniform(-1, 1, (k, 2)), "path": rng.uniform(-1, 1, (k, 2)),
            "path_updates": np.array([10 * (i + 1) for i in range(k)]), "lowest": rng.uniform(-1, 1, (k, 2))}


def test_rounds_grid_has_a_panel_per_moment_and_a_colour_bar_per_row():
    fig, axes = rounds_grid({"dqn": _rounds(seed=0), "qnet": _rounds(seed=1)}, columns=[0, 2], suptitle="t")
    assert axes.shape == (2, 2)
    assert len(fig.axes) == 2 * 2 + 2


def test_rounds_gif_writes_one_frame_per_moment(tmp_path):
    from PIL import Image

    path = tmp_path / "rounds.gif"
    rounds_gif({"dqn": _rounds(k=3)}, path)
    with Image.open(path) as im:
        assert im.n_frames == 3


def test_schedule_panels_mark_where_each_seed_reaches_its_floor():
    cfg = QNetConfig(learning_starts=100, train_freq=2)
    runs = [_run(0), _run(1)]
    for k, r in enumerate(runs):                   # LR halves per update from 1.0 to its floor 0.25
        r.log.lr = [max(0.25, 0.5 ** u) for u in range(40)]
        r.episode_ends = [100 + 20 * (e + 1) for e in range(4)]      # updates 10, 20, 30, 39 (clipped)
    fig, axes = schedule_panels(runs, [_run(2)], [100, 200, 300, 400], cfg, 0.25, "decay_floor", "v2")
    stars = [ln for ln in axes[0].get_lines() if ln.get_marker() == "*"]
    assert [(float(ln.get_xdata()[0]), float(ln.get_ydata()[0])) for ln in stars] == [(120.0, 0.25)] * 2
    floors = [ln for ln in axes[1].get_lines() if ln.get_label().endswith("LR at its floor")]
    assert [float(ln.get_xdata()[0]) for ln in floors] == [100 + 2 * 3] * 2     # update index 2 is the first at 0.25
    fig, axes = schedule_panels(runs, [_run(2)], [100, 200, 300, 400], cfg, 0.25, "cosine", "v2")
    assert not [ln for ln in axes[0].get_lines() if ln.get_marker() == "*"]   # only decay_floor has a floor


def test_per_seed_dots_draws_one_marker_per_seed_and_keeps_the_configurations_colours():
    from lossurf.rl.figures import color, per_seed_dots
    groups = {"mse: neither": [_run(0), _run(1)], "mse: replay, consecutive": [_run(2), _run(3)]}
    fig, axes = per_seed_dots(groups, gamma=0.99, random_mean=21.8, suptitle="t")
    assert len(axes) == 2
    markers = [ln for ln in axes[0].get_lines() if ln.get_linestyle() == "None"]
    assert len(markers) == 4 and markers[2].get_color() == color("mse: replay, consecutive")
    assert [t.get_text() for t in axes[1].get_xticklabels()] == ["neither", "replay,\nconsecutive"]   # "mse: " to the title
    assert markers[0].get_ydata()[0] == groups["mse: neither"][0].max_abs_q
