"""Notebook 01's lesson code: MNIST from the shipped copy, small classifiers and their training loop,
the measurements behind its lesson checks, and its own pictures."""
from .data import MNISTDataError, balanced_subset, label_counts, load_mnist, mnist_tensors, prepare_mnist
from .classifier import Overshoot, Run, evaluate, gradient, layer_grad_norms, mlp, overshoot_slice, train_classifier
from .lessons import (GUESSING, checkpoint_losses, directional_curvature, finite_checkpoints, init_gradient_norm, instability,
                      line_bottom, parabola_miss, rescaled_slices, sharpness_along, sharpness_or_nan,
                      weight_change)
from .seeds import agree, clipping_rows, fate, finite_max, spread, train_seeds
from .figures import RUN_COLORS, layer_bars, plane_with_paths, run_color, schedule_panels, seed_curves, symlog_axis
from .gallery_figures import deep_figure, overshoot_figure, plane_views, real_log_ticks, sharpness_figure
