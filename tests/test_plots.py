import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from lossurf import plots
from lossurf.result import SurfaceResult, Trajectory


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


# ---------------------------------------------------------------- the series' figure style (issue 13)

def _log_plane():
    a = np.linspace(-1, 1, 9)
    return SurfaceResult([a, a], {"loss": 0.05 * 10 ** (2.5 * np.add.outer(a ** 2, a ** 2) / 2)})


def _cbar_labels(fig):
    cbar_axes = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert cbar_axes
    return [float(t.get_text()) for t in cbar_axes[-1].get_yticklabels() if t.get_text()]


@pytest.mark.parametrize("draw", [lambda r: plots.plot_contour(r, log=True)[0],
                                  lambda r: plots.plot_heatmap(r, log=True)[0],
                                  lambda r: plots.compare_surfaces([r, r], ["a", "b"], log=True)[0]])
def test_log_colour_bars_are_ticked_in_real_values(draw):
    res = _log_plane()
    fig = draw(res)
    labels = _cbar_labels(fig)
    z = res.values["loss"]
    assert len(labels) >= 3 and all(z.min() * 0.999 <= v <= z.max() * 1.001 for v in labels), labels
    assert set(labels) <= {0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0}, labels   # 1-2-5 real values
    plt.close(fig)


def test_real_label_and_log_ticks():
    assert [plots.real_label(v) for v in (0.05, 1.0, 30.0, 2e4, 2e5, 1e-4)] == ["0.05", "1", "30", "2e4", "2e5", "1e-4"]
    t = plots.log_ticks(np.log10(0.373), np.log10(8.5862))
    assert list(t) == [0.5, 1.0, 2.0, 5.0]


def test_constant_and_all_diverged_surfaces_carry_a_note():
    a = np.linspace(-1, 1, 5)
    const = SurfaceResult([a, a], {"return": np.full((5, 5), 9.5)})
    dead = SurfaceResult([a, a], {"loss": np.full((5, 5), np.nan)})
    for fn in (plots.plot_contour, plots.plot_heatmap, plots.plot_surface3d):
        fig, ax = fn(const, "return")
        assert "constant surface:\nreturn = 9.500" in [t.get_text() for t in ax.texts], fn.__name__
        plt.close(fig)
        fig, ax = fn(dead, log=True)
        assert "all 25 points diverged" in [t.get_text() for t in ax.texts], fn.__name__
        plt.close(fig)
    fig, axes = plots.compare_surfaces([_log_plane(), dead], ["ok", "dead"], log=True)
    assert "all 25 points diverged" in [t.get_text() for t in axes[1].texts]
    assert _cbar_labels(fig)                      # the scale is still drawn next to the dead panel
    plt.close(fig)
    fig, ax = plots.plot_contour(_log_plane())
    assert not ax.texts
    plt.close(fig)


def test_views_of_one_plane_share_one_colour_scale():
    res = _log_plane()
    fig, axes = plots.plot_surface_views(res, log=True)
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection
    surf = [c for c in axes[0].collections if isinstance(c, Poly3DCollection) and c.get_array() is not None][0]
    contour = [c for c in axes[1].collections if c.get_array() is not None][0]
    mesh = [c for c in axes[2].collections if c.get_array() is not None][0]
    clims = {(round(m.norm.vmin, 9), round(m.norm.vmax, 9)) for m in (surf, contour, mesh)}
    assert len(clims) == 1
    assert clims.pop() == (round(np.log10(res.values["loss"].min()), 9), round(np.log10(res.values["loss"].max()), 9))
    plt.close(fig)


def test_end_star_draws_above_the_centre_ring_and_series_differ():
    tr = Trajectory(np.array([[0.5, 0.5], [0.2, 0.1], [0, 0]]), {"loss": np.ones(3)}, np.zeros(3), "run")
    tr2 = Trajectory(np.array([[-0.5, 0.5], [0.2, 0.1], [0, 0]]), {"loss": np.ones(3)}, np.zeros(3), "other")
    fig, ax = plots.plot_contour(_log_plane(), trajectories=[tr, tr2])
    lines = ax.get_lines()
    ring = [l for l in lines if l.get_label() == "centre"][0]
    stars = [l for l in lines if l.get_marker() == "*"]
    assert len(stars) == 2 and all(s.get_zorder() > ring.get_zorder() for s in stars)
    assert ring.get_markerfacecolor() == "none"
    paths = {l.get_label(): l for l in lines if l.get_label() in ("run", "other")}
    assert paths["run"].get_linestyle() != paths["other"].get_linestyle()
    assert paths["run"].get_marker() != paths["other"].get_marker()
    plt.close(fig)
    styles = [plots.series_style(k) for k in range(6)]
    assert len({(s["linestyle"] if isinstance(s["linestyle"], str) else str(s["linestyle"]), s["marker"])
                for s in styles}) == 6
    assert not {"s", "*"} & {s["marker"] for s in styles}


@pytest.mark.parametrize("width", [5.0, 10.0, 16.0])
def test_text_is_at_least_10_px_at_githubs_900_px_and_pngs_are_sharp_but_capped(width):
    from PIL import Image
    import io
    plots.style()
    fig, axes = plt.subplots(1, 3, figsize=(width, 3.8))
    for ax in axes:
        ax.plot(np.arange(10), label="x")
        ax.legend(fontsize=6)
        ax.set_title("t", fontsize=7)
    fig.tight_layout()
    dpi = plots.fit_text(fig)
    png = plots.render_png(fig)
    w_px = Image.open(io.BytesIO(png)).size[0]
    assert w_px <= plots.MAX_PX + 2
    assert dpi == pytest.approx(min(150, 1800 / (w_px / dpi)), rel=0.02)
    # shown at 900 px (or at its own size, if narrower), the smallest text is >= 10 px
    assert plots.smallest_text_px(fig, w_px, dpi) >= 10
    if width == 16.0:   # the rule computed: 10 px * 72 / (900 px / ~16 in) = ~12.8 pt
        sizes = [t.get_fontsize() for t in fig.findobj(matplotlib.text.Text) if t.get_text().strip()]
        assert min(sizes) >= 12.8
    plt.close(fig)


def test_a_long_note_stays_inside_a_narrow_panel():
    a = np.linspace(-1, 1, 5)
    const = SurfaceResult([a, a], {"return": np.full((5, 5), 9.5)})
    fig, axes = plt.subplots(1, 4, figsize=(12, 3))
    for ax in axes:
        plots.plot_heatmap(const, "return", ax=ax)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in axes:
        box = ax.get_window_extent(renderer)
        for t in ax.texts:
            patch = t.get_bbox_patch().get_window_extent(renderer)
            assert box.x0 <= patch.x0 and patch.x1 <= box.x1, (t.get_text(), patch, box)
    plt.close(fig)
