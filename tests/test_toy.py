"""The toy bowl: gradient descent against the closed form, the three regimes at their exact boundaries,
clipping and schedules, and the headless picture (no widget in a stored notebook)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lossurf.toy import Bowl, descend, explore, paths_figure, regime  # noqa: E402

BOWL = Bowl(10.0, 1.0)


@pytest.mark.parametrize("lr", [0.05, 0.1, 0.15, 0.2, 0.21])
def test_constant_steps_follow_the_closed_form(lr):
    start = np.array([1.0, -0.5])
    path = descend(BOWL, start, lr, steps=25)
    t = np.arange(26)[:, None]
    want = start * (1 - lr * np.array([10.0, 1.0])) ** t          # each step multiplies θᵢ by (1 − ηλᵢ)
    np.testing.assert_allclose(path.points, want, rtol=1e-12, atol=1e-15)      # η = 1/λ₁: 1 − ηλ₁ is 0 up to rounding
    np.testing.assert_allclose(path.losses, 0.5 * (10 * want[:, 0] ** 2 + want[:, 1] ** 2), rtol=1e-12)
    np.testing.assert_allclose(path.grad_norms, np.hypot(10 * want[:-1, 0], want[:-1, 1]), rtol=1e-12)


def test_the_regimes_change_exactly_at_one_and_two_over_lambda():
    assert regime(BOWL, 0.1) == "converges smoothly"
    assert regime(BOWL, 0.1001) == regime(BOWL, 0.1999) == "zig-zags, but converges"
    assert regime(BOWL, 0.2) == "oscillates forever"
    assert regime(BOWL, 0.2001) == "diverges"
    last = {lr: descend(BOWL, (1.0, 0.0), lr, steps=60).losses[-1] for lr in (0.15, 0.2, 0.21)}
    assert last[0.15] < 1e-10 and last[0.2] == pytest.approx(5.0) and last[0.21] > 1e3


def test_a_clipped_step_has_length_lr_times_the_clip_norm():
    path = descend(BOWL, (1.0, 1.0), 0.1, steps=1, clip_norm=2.0)
    g = np.array([10.0, 1.0])
    np.testing.assert_allclose(path.points[1], np.array([1.0, 1.0]) - 0.1 * 2.0 * g / np.linalg.norm(g), rtol=1e-6)  # clip_grad_norm_ adds 1e-6 to the norm
    assert path.grad_norms[0] == pytest.approx(np.linalg.norm(g))        # the norm before clipping


def test_clipping_caps_an_overshooting_step_but_a_schedule_cures_it():
    clipped = descend(BOWL, (1.0, 1.0), 0.21, steps=300, clip_norm=1.0)   # η above 2/λ₁ = 0.2
    assert 0.01 < clipped.losses[-50:].min() and clipped.losses.max() < 10      # bounded, never converges
    scheduled = descend(BOWL, (1.0, 1.0), 0.21, steps=300, schedule="exponential", exp_gamma=0.99)
    assert scheduled.losses[-1] < 1e-12 and scheduled.lrs[0] == 0.21
    np.testing.assert_allclose(scheduled.lrs, 0.21 * 0.99 ** np.arange(300), rtol=1e-12)


def test_bad_input_names_the_problem():
    with pytest.raises(ValueError, match="lam1 >= lam2 > 0"):
        descend(Bowl(1.0, 10.0))
    with pytest.raises(ValueError, match="steps"):
        descend(BOWL, steps=0)
    with pytest.raises(ValueError, match="clip"):
        descend(BOWL, clip_norm=-1.0)


def test_headless_explore_draws_the_default_picture_and_makes_no_widget(monkeypatch):
    monkeypatch.setenv("LOSSURF_PROGRESS", "0")
    plt.close("all")
    assert explore(BOWL, lr=0.15) is None
    fig = plt.gcf()
    assert len(fig.axes) == 2 and "zig-zags, but converges" in fig._suptitle.get_text()
    assert len(fig.axes[1].get_lines()) == 1
    plt.close("all")


def test_paths_figure_draws_each_path_on_both_panels_with_the_legend_off_the_data():
    paths = {f"η = {lr}": descend(BOWL, (1.0, 1.0), lr, steps=10) for lr in (0.05, 0.15, 0.21)}
    fig, (ax, ax_loss) = paths_figure(BOWL, paths)
    assert len(ax_loss.get_lines()) == 3 and len([ln for ln in ax.get_lines() if ln.get_label() in paths]) == 3
    fig.canvas.draw()
    legend = ax_loss.get_legend().get_window_extent()
    assert legend.x0 >= ax_loss.get_window_extent().x1 - 1                    # right of the loss panel
    plt.close(fig)


def test_interactive_explore_makes_sliders_for_the_rate_the_clip_norm_and_the_schedule(monkeypatch):
    monkeypatch.setenv("LOSSURF_PROGRESS", "1")
    shown = explore(BOWL, lr=0.05)
    names = [c.description for c in shown.widget.children[:-1]]
    assert names == ["lr", "clip", "schedule"] and shown.widget.children[0].max == pytest.approx(0.25)
    plt.close("all")


def test_the_regime_verdict_checks_each_run_against_its_formula():
    from lossurf.report import verdict_status
    from lossurf.toy import regimes_verdict
    runs = {lr: descend(BOWL, lr=lr, steps=30) for lr in (0.07, 0.15, 0.25)}
    line = regimes_verdict(BOWL, runs)
    assert verdict_status(line) == "shown" and "x-1.500 per step" in line and "x0.300 per step" in line
    swapped = {0.07: runs[0.25], 0.15: runs[0.15], 0.25: runs[0.07]}          # paths that contradict their rates
    assert verdict_status(regimes_verdict(BOWL, swapped)) == "not shown"


def test_the_clipping_verdict_needs_a_bounce_at_lr_times_clip_over_two():
    from lossurf.report import verdict_status
    from lossurf.toy import clipping_verdict
    plain = descend(BOWL, lr=0.25, steps=30)
    for c in (0.5, 1.0, 5.0):
        assert verdict_status(clipping_verdict(BOWL, plain, descend(BOWL, lr=0.25, steps=30, clip_norm=c), 0.25, c)) == "shown"
    never_clipped = descend(BOWL, lr=0.25, steps=30, clip_norm=1e6)               # the clip never acts: it diverges
    assert verdict_status(clipping_verdict(BOWL, plain, never_clipped, 0.25, 1e6)) == "not shown"
    assert "CLIP_NORM is None" in clipping_verdict(BOWL, plain, plain, 0.25, None)


def test_the_schedule_verdict_and_fitted_time_constants():
    from lossurf.report import verdict_status
    from lossurf.toy import schedule_verdict
    for name in ("step", "exponential", "plateau", "cosine", "decay_floor"):
        path = descend(BOWL, lr=0.25, steps=30, schedule=name)                    # constants fitted to 30 steps
        assert path.lrs[-1] < 0.2 and verdict_status(schedule_verdict(BOWL, path)) == "shown", name
    assert verdict_status(schedule_verdict(BOWL, descend(BOWL, lr=0.25, steps=30))) == "not shown"   # constant: diverges
    calm = descend(BOWL, lr=0.05, steps=30, schedule="cosine")                    # never grew: not this lesson
    assert verdict_status(schedule_verdict(BOWL, calm)) == "not shown"


def test_a_run_keeps_its_colour_when_the_next_figure_starts_with_it():
    runs = {f"η = {lr}": descend(BOWL, (1.0, 1.0), lr, steps=5) for lr in (0.05, 0.15, 0.25)}
    _, (_, first) = paths_figure(BOWL, runs)
    _, (_, second) = paths_figure(BOWL, {"η = 0.25": runs["η = 0.25"]}, first_style=2)
    assert first.get_lines()[2].get_color() == second.get_lines()[0].get_color() != first.get_lines()[0].get_color()
    plt.close("all")
