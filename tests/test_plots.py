import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from lossurf import plots
from lossurf.surface import SurfaceResult, Trajectory


def plane(shift=0.0, bad=()):
    a = np.linspace(-1, 1, 9)
    b = np.linspace(-1, 1, 7)
    z = np.add.outer(a ** 2, b ** 2) + shift + 0.1
    for i, j in bad:
        z[i, j] = np.nan if (i + j) % 2 else np.inf
    return SurfaceResult([a, b], {"loss": z})


def test_diverged_points_are_counted_and_hatched():
    res = plane(bad=[(0, 0), (8, 6), (3, 2)])
    for fn in (plots.plot_contour, plots.plot_heatmap, plots.plot_surface3d):
        fig, ax = fn(res, log=True)
        assert "3 diverged points" in ax.get_title()
        plt.close(fig)
    fig, ax = plots.plot_heatmap(res)
    assert sum(p.get_hatch() == "xxx" for p in ax.patches) == 3
    plt.close(fig)


def test_clean_plane_has_no_diverged_note_and_marks_paths():
    tr = Trajectory(np.array([[0.5, 0.5], [0.2, 0.1], [0, 0]]), {"loss": np.ones(3)}, np.zeros(3), "run")
    fig, ax = plots.plot_contour(plane(), trajectories=[tr], title="t")
    assert ax.get_title() == "t"
    labels = [l.get_label() for l in ax.get_lines()]
    assert "run" in labels and "centre" in labels
    plt.close(fig)


def test_compare_uses_one_colour_scale():
    fig, axes = plots.compare_surfaces([plane(), plane(shift=5)], ["a", "b"], kind="heatmap")
    limits = {tuple(np.round(ax.collections[0].get_clim(), 6)) for ax in axes}
    assert len(limits) == 1
    assert limits.pop() == (0.1, 7.1)
    plt.close(fig)
    with pytest.raises(ValueError, match="kind"):
        plots.compare_surfaces([plane()], ["a"], kind="3d")


def test_line_plot_marks_diverged():
    a = np.linspace(-1, 1, 5)
    res = SurfaceResult([a], {"loss": np.array([1.0, np.inf, 0.2, np.nan, 1.0])})
    fig, ax = plots.plot_line(res)
    assert "2 diverged" in ax.get_title()
    plt.close(fig)


def test_line_and_plane_plots_refuse_the_other_kind_clearly():
    line = SurfaceResult([np.linspace(-1, 1, 5)], {"loss": np.ones(5)})
    for fn in (plots.plot_contour, plots.plot_heatmap, plots.plot_surface3d):
        with pytest.raises(ValueError, match="1-D line .* use plot_line"):
            fn(line)
    with pytest.raises(ValueError, match="2-D plane .* use plot_contour"):
        plots.plot_line(plane())
    with pytest.raises(ValueError, match="2-D plane"):
        plots.compare_surfaces([line], ["a"])


def test_log_plots_do_not_hatch_genuine_zeros():
    res = plane(shift=-0.1)                      # a true minimum of exactly 0 at the centre
    res.values["loss"][4, 3] = 0.0
    res.values["loss"][0, 0] = np.nan            # and one diverged point
    for fn in (plots.plot_contour, plots.plot_heatmap, plots.plot_surface3d):
        fig, ax = fn(res, log=True)
        assert "1 diverged point" in ax.get_title(), fn.__name__
        plt.close(fig)
    fig, ax = plots.plot_heatmap(res, log=True)
    assert sum(p.get_hatch() == "xxx" for p in ax.patches) == 1
    plt.close(fig)
