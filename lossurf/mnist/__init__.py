"""Notebook 01's lesson code: MNIST from the shipped copy, small classifiers and their training loop,
the measurements behind its lesson checks, and its own pictures."""
from .data import MNISTDataError, balanced_subset, label_counts, load_mnist, mnist_tensors, prepare_mnist
from .classifier import Overshoot, Run, evaluate, gradient, layer_grad_norms, mlp, overshoot_slice, train_classifier
from .lessons import (GUESSING, checkpoint_losses, directional_curvature, finite_checkpoints, instability, sharpness_or_nan,
                      verdict, weight_change)
from .figures import layer_bars, plane_with_paths, schedule_grid, symlog_axis
