"""CartPole drawn from its state: where the cart and the pole go, the failure colour, the filmstrip's grid."""
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lossurf.rl.cartpole_pictures import ANGLE_LIMIT, draw_state, filmstrip  # noqa: E402


def _pole(ax):
    return next(ln for ln in ax.get_lines() if ln.get_linewidth() == 3)


def test_the_pole_leans_with_theta_and_turns_red_past_twelve_degrees():
    fig, (a, b) = plt.subplots(1, 2)
    draw_state(a, [1.0, 0.0, 0.1, 0.0])
    draw_state(b, [-0.5, 0.0, -(ANGLE_LIMIT + 0.01), 0.0])
    (x0, x1), (y0, y1) = _pole(a).get_data()
    assert x0 == 1.0 and x1 == pytest.approx(1.0 + math.sin(0.1)) and y1 > y0
    assert a.patches[0].get_x() == pytest.approx(0.75)                     # the cart, centred on x
    assert _pole(a).get_color() == "0.2" and _pole(b).get_color() == "#d62728"
    assert ANGLE_LIMIT == pytest.approx(0.2094, abs=1e-4)
    plt.close(fig)


def test_filmstrip_has_a_row_per_agent_and_leaves_short_episodes_blank():
    long, short = np.zeros((40, 4)), np.zeros((3, 4))
    fig, axes = filmstrip({"good": long, "bad": short}, frames=5)
    assert axes.shape == (2, 5)
    assert [ax.get_title() for ax in axes[0]] == ["start", "after 10 steps", "after 20 steps", "after 29 steps", "after 39 steps"]
    assert [ax.axison for ax in axes[1]] == [True, True, True, False, False]
    with pytest.raises(ValueError, match="shape"):
        filmstrip({"bad": np.zeros((5, 3))})
    plt.close(fig)


def test_filmstrip_colours_an_agent_as_asked():
    fig, axes = filmstrip({"a": np.zeros((3, 4)), "b": np.zeros((3, 4))}, frames=2, colors={"b": "#123456"})
    cart = lambda ax: matplotlib.colors.to_hex(ax.patches[0].get_facecolor())
    assert cart(axes[1][0]) == "#123456" and cart(axes[0][0]) != "#123456"
    plt.close(fig)
