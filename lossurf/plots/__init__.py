"""Pictures of surfaces and of training: every function draws on matplotlib and returns (fig, ax).

Diverged points (NaN/Inf loss) are never dropped silently: they are masked, hatched in red and
counted in the title; a surface with nothing to colour (constant, or every point diverged) says so in
the panel.

One style for every figure (``style()``), made for GitHub, which shows notebooks and READMEs about
900 px wide:

* **sharp**: figures render at 150 dpi, capped at 1,800 px wide (twice the 900 px they are shown at),
  so they stay crisp on high-density screens and PNGs stay small;
* **legible**: text drawn at ``s`` points in a figure ``w`` inches wide is shown at
  ``s / 72 * min(dpi, 900 / w)`` px; before a figure is rendered every text smaller than 10 px by that
  rule is raised to it (``fit_text``): 0.8 pt per inch of width past 6 inches (a 16-inch figure needs
  12.8 pt), and the layout is redone;
* **log colour scales ticked in real values** (0.1, 0.2, 0.5, 1, ...), never in their log10;
* **overlapping series stay distinguishable**: each series has its own colour, dash pattern and
  (hollow) marker shape (``series_style``), end stars draw above the centre ring;
* **the same value has the same colour** in every view of one figure (3-D surface unshaded, one
  Normalize shared by the 3-D surface, the contour and the heatmap).
"""
from .theme import (CMAP, DIVERGED, FIGSIZE, TRAJ_COLORS, TRAJ_LINESTYLES, TRAJ_MARKERS, DISPLAY_PX, MIN_TEXT_PX,
                    RENDER_DPI, MAX_PX, FIGURE_DPI, series_style)
from .png import fit_text, smallest_text_px, render_png, save, style
from .surfaces import (finite_values, real_label, log_ticks, log_colorbar, color_limits, surface_note, plot_line,
                       plot_contour, plot_heatmap, plot_surface3d, compare_surfaces, plot_surface_views)
from .curves import plot_curves, show_digits, plot_layer_norms, plot_mean_spread
