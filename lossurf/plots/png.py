"""From a matplotlib figure to the PNG stored in a notebook: text raised until legible at 900 px, a small palette PNG, the IPython formatter, one ``style()``."""
from __future__ import annotations

import io
import warnings

import matplotlib.pyplot as plt
from matplotlib.text import Text

from .theme import (
    CMAP,
    DISPLAY_PX,
    FIGURE_DPI,
    MAX_PX,
    MIN_TEXT_PX,
    RENDER_DPI,
    TRAJ_COLORS,
    TRAJ_LINESTYLES,
)


def _text_floor(width_in: float, dpi: float, display_px: int, min_px: float) -> float:
    """The smallest font size (pt) that shows ``min_px`` tall when a PNG ``width_in`` inches wide at
    ``dpi`` is shown ``display_px`` wide (or at its own size, if narrower)."""
    ppi = min(dpi, display_px / width_in)
    return min_px * 72 / ppi


def _raise_text(fig, floor: float) -> bool:
    """Every visible text (tick labels included) at least ``floor`` pt; True if anything grew."""
    changed = False
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis, getattr(ax, "zaxis", None)):
            if axis is None:
                continue
            sizes = [t.get_fontsize() for t in axis.get_ticklabels(which="both")]
            if sizes and min(sizes) < floor - 1e-6:
                axis.set_tick_params(which="both", labelsize=floor)
                changed = True
    for t in fig.findobj(Text):
        if t.get_visible() and t.get_text().strip() and t.get_fontsize() < floor - 1e-6:
            t.set_fontsize(floor)
            changed = True
    return changed


def fit_text(fig, display_px: int = DISPLAY_PX, min_px: float = MIN_TEXT_PX, dpi: float = RENDER_DPI,
             max_px: int = MAX_PX) -> float:
    """Prepare ``fig`` for a PNG shown ``display_px`` wide: raise every text below ``min_px`` (at that
    width) to it, redo the layout if anything grew, and return the dpi to render at (``dpi``, lowered so
    the PNG is at most ``max_px`` wide). Idempotent."""
    pad = 2 * plt.rcParams["savefig.pad_inches"]
    render = dpi
    for _ in range(4):
        fig.draw_without_rendering()
        width = fig.get_tightbbox().width + pad
        render = min(dpi, max_px / width)
        floor = _text_floor(width, render, display_px, min_px) * 1.01
        if not _raise_text(fig, floor):
            break
        if fig.get_layout_engine() is None and fig.axes:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fig.tight_layout()
    return render


def smallest_text_px(fig, png_width_px: int, dpi: float, display_px: int = DISPLAY_PX) -> float:
    """The smallest visible text of a rendered figure, in px when the PNG is shown ``display_px`` wide."""
    fig.draw_without_rendering()
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return min(sizes) / 72 * dpi * min(1.0, display_px / png_width_px)


def _palette(png: bytes) -> bytes:
    """The PNG re-encoded with an adaptive 256-colour palette when that is smaller (about 4x for these
    figures: flat fills, one colour map, anti-aliased text), so notebooks stay well under 3 MB."""
    from PIL import Image
    im = Image.open(io.BytesIO(png))
    if im.mode == "RGBA" and im.getchannel("A").getextrema()[0] < 255:
        return png                                  # transparency: keep as it is
    buf = io.BytesIO()
    im.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE).save(buf, "png", optimize=True,
                                                                            dpi=im.info.get("dpi", (72, 72)))
    return buf.getvalue() if buf.tell() < len(png) else png


def render_png(fig, palette: bool = True) -> bytes:
    """The figure as the PNG the notebooks show and ``img/`` holds: text fitted, dpi by width, tight box,
    256-colour palette (``palette``)."""
    dpi = fit_text(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor=fig.get_facecolor())
    return _palette(buf.getvalue()) if palette else buf.getvalue()


def save(fig, path, dpi: int | None = None) -> None:
    """Save a figure as a PNG in the series' style (text fitted, dpi by width unless ``dpi`` is given)."""
    if dpi is None and str(path).lower().endswith(".png"):
        with open(path, "wb") as f:
            f.write(render_png(fig))
        return
    fitted = fit_text(fig)
    fig.savefig(path, dpi=dpi or fitted, bbox_inches="tight")


def _png_base64(fig):
    import base64
    if not fig.axes and not fig.texts:
        return None
    return base64.b64encode(render_png(fig)).decode("ascii")


def _install_inline_png() -> bool:
    """In Jupyter, show figures through ``render_png`` (the inline backend configures itself first, so
    it does not replace this later). Returns whether it is installed."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    if ip is None or not hasattr(ip, "display_formatter"):
        return False
    if "inline" in str(plt.get_backend()):
        plt.close(plt.figure())          # loads the inline backend, which registers its own formatter
    from matplotlib.figure import Figure
    ip.display_formatter.formatters["image/png"].for_type(Figure, _png_base64)
    return True


def style(dpi: int = FIGURE_DPI) -> None:
    """The series' figure style (module docstring): base font sizes, colour and dash cycles, PNGs at
    150 dpi capped at 1,800 px, text fitted to >= 10 px at GitHub's 900 px. ``dpi`` is matplotlib's
    ``figure.dpi``, which only sizes the "<Figure size ...>" text in stored outputs (the PNG's dpi is
    chosen per figure)."""
    from cycler import cycler
    plt.rcParams.update({
        "figure.dpi": dpi, "savefig.dpi": RENDER_DPI, "savefig.bbox": "tight",
        "font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "xtick.labelsize": 9,
        "ytick.labelsize": 9, "legend.fontsize": 9, "figure.titlesize": 12,
        "legend.framealpha": 0.85, "image.cmap": CMAP, "lines.linewidth": 1.6,
        "axes.prop_cycle": cycler(color=list(TRAJ_COLORS)) + cycler(linestyle=list(TRAJ_LINESTYLES)),
    })
    _install_inline_png()
