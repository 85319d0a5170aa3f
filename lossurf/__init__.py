"""lossurf: loss surfaces of neural networks, for teaching (MNIST, Q-Network, DQN)."""
from . import arithmetic

arithmetic.pin_reference()      # before torch loads: the kernels the stored outputs were made with

from .seeding import seed_everything, seed_env, device
from .training import StepResult, TrainLog, train_step, snapshot, check_clip_norm, check_lr
from .schedules import SCHEDULES, make_scheduler, step_scheduler
from .progress import progress
from .directions import (random_directions, normalize_direction, pca_directions, project, cosine, plane_through,
                         parameters_of, difference)
from .objectives import Objective, Supervised, FunctionObjective, load_params
from .surface import (SurfaceResult, Trajectory, evaluate_points, loss_line, loss_plane, interpolation,
                      trajectory, plane_covering, symmetric_axis, merge_shards)
from .curvature import (EigInfo, HessianOperator, NonFiniteCurvature, hessian_eigs, hvp, sharpness,
                        stability_limit)

__version__ = "0.1.0"
