"""lossurf: loss surfaces of neural networks, for teaching (MNIST, Q-Network, DQN).

The library core sits at the top level (directions, objectives, surfaces, curvature, training steps,
schedules, seeding, reports); ``lossurf.plots`` draws; ``lossurf.mnist`` and ``lossurf.rl`` hold the
lesson code of notebook 01 and of notebooks 02 and 03. Everything a notebook uses is reachable from
``import lossurf as ls``.
"""
from . import arithmetic

arithmetic.pin_reference()      # before torch loads: the kernels the stored outputs were made with

from .seeding import seed_everything, seed_env, device
from .training import StepResult, TrainLog, train_step, check_clip_norm, check_lr
from .model_state import snapshot, load_params, eval_mode, modes_kept, model_kept, global_rngs_kept
from .schedules import SCHEDULES, make_scheduler, step_scheduler
from .progress import progress
from .directions import (random_directions, normalize_direction, pca_directions, project, cosine, plane_through,
                         parameters_of, difference)
from .objectives import Objective, Supervised, FunctionObjective
from .result import SurfaceResult, Trajectory, merge_shards
from .surface import (evaluate_points, loss_line, loss_plane, interpolation, trajectory, plane_covering,
                      symmetric_axis)
from .curvature import Eigs, Sharpness, EigInfo, HessianOperator, NonFiniteCurvature, hessian_eigs, hvp, sharpness, stability_limit
from .report import fmt, table, verdict
__version__ = "0.1.0"
_SUBPACKAGES = ("plots", "mnist", "rl", "toy")    # imported on first use: matplotlib, torchvision, gymnasium take seconds


def __getattr__(name: str):
    """``ls.plots``, ``ls.mnist`` and ``ls.rl`` without importing them until a notebook uses them."""
    if name in _SUBPACKAGES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
