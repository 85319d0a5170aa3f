"""Curvature of a loss surface: Hessian-vector products, top/bottom Hessian eigenpairs, sharpness.

Along a direction where the loss curves with Hessian eigenvalue λ, gradient descent with learning
rate η shrinks the error when λ < 2/η and overshoots (and grows it) when λ > 2/η; with heavy-ball
momentum β the limit is (2 + 2β)/η (``stability_limit``). The eigenvectors come back as
``{name: tensor}`` directions, unit norm, so ``loss_line``/``loss_plane`` slice along them as-is.

The Hessian is never formed: Lanczos (``scipy.sparse.linalg.eigsh``) only needs products H·v,
computed by double backward through one retained graph of the loss on the whole dataset (or, with
``batch_size``, forward-over-reverse ``torch.func.jvp(grad(f))`` chunk by chunk). The caller's model is
never modified: its parameters, ``.grad`` and training flag stay as they were.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch.func import grad, jvp

from .directions import Params, flatten, parameters_of
from .model_state import eval_mode
from .objectives import Objective, Supervised

WHICH = {"largest": "LA", "smallest": "SA"}


class NonFiniteCurvature(ValueError):
    """The loss or a Hessian-vector product at the point is NaN/Inf (a diverged checkpoint)."""


@dataclass(frozen=True)
class EigInfo:
    """How an eigen-solve went: Hessian-vector products used, parameter count, settings, wall time."""
    n_hvp: int
    n_params: int
    which: str
    tol: float
    seconds: float


class Eigs(NamedTuple):
    """What ``hessian_eigs`` returns: sorted eigenvalues, their unit directions, and what it cost."""
    values: np.ndarray            # sorted from the largest (from the most negative for "smallest")
    directions: list              # {name: tensor} unit-norm eigenvectors, usable by loss_line/loss_plane
    info: EigInfo


class Sharpness(NamedTuple):
    """What ``sharpness`` returns: the top eigenvalue at each checkpoint (NaN where it diverged), and per
    checkpoint the solve's ``EigInfo`` (None where NaN)."""
    values: np.ndarray
    infos: list


def stability_limit(lr: float, momentum: float = 0.0) -> float:
    """The curvature λ below which gradient descent (heavy-ball momentum β) does not overshoot: (2 + 2β)/η.

    On a quadratic with curvature λ, GD with learning rate η multiplies the error by (1 − ηλ) each
    step, which grows once λ > 2/η; heavy-ball momentum β raises the limit to (2 + 2β)/η (β = 0 gives
    2/η). For Adam (or any adaptive, per-parameter step) no such single number is defined: the limit
    depends on the preconditioner, i.e. on the running gradient statistics, so this helper does not apply.
    """
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive number such as 0.1, got {lr!r}")
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
        raise ValueError(f"momentum must be a number in [0, 1) (e.g. 0.9 for heavy-ball SGD), got {momentum!r}")
    return (2.0 + 2.0 * momentum) / lr


def _scalar_loss(objective: Objective, params: Params, metric: str) -> torch.Tensor:
    """The objective's ``metric`` at ``params``, checked to be one scalar (a clear error otherwise)."""
    out = objective(params)
    if not isinstance(out, dict) or metric not in out:
        keys = sorted(out) if isinstance(out, dict) else type(out).__name__
        raise ValueError(f"the objective returned no {metric!r} entry (got {keys}); return "
                         f"{{'{metric}': scalar tensor}} or pass metric=<one of its keys>")
    loss = out[metric]
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ValueError(f"the objective's {metric!r} must be a scalar tensor to have a Hessian, got "
                         f"{shape}; reduce it (e.g. .mean()) inside the objective")
    return loss.reshape(())


class HessianOperator:
    """``H @ v`` for the Hessian of an objective's scalar loss at one parameter point (``center``).

    Default: the loss and its gradient are computed once with ``create_graph=True`` and every product
    is one backward pass through that retained graph (double backward). With ``batch_size`` (Supervised
    objectives only) the data is split into chunks and each product is the example-weighted sum of
    per-chunk ``jvp(grad(f))`` (forward-over-reverse): less memory, recomputed every time.
    ``n_hvp`` counts the products computed.
    """

    def __init__(self, objective: Objective, center, metric: str = "loss", batch_size: int | None = None):
        self.objective, self.metric = objective, metric
        self.center = parameters_of(center)
        self.names = list(self.center)
        self.shapes = [self.center[k].shape for k in self.names]
        self.sizes = [self.center[k].numel() for k in self.names]
        self.n_params = sum(self.sizes)
        first = self.center[self.names[0]]
        self.dtype, self.device = first.dtype, first.device
        self.n_hvp = 0
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                       or batch_size < 1):
            raise ValueError(f"batch_size must be None (whole dataset at once) or an int >= 1, got {batch_size!r}")
        if batch_size is not None and not isinstance(objective, Supervised):
            raise ValueError("batch_size splits the data of a Supervised objective; other objectives hold "
                             "their own data, so leave batch_size=None")
        with eval_mode(objective.model), torch.enable_grad():
            if batch_size is None or batch_size >= len(objective.x):
                self._chunks = None
                leaves = {k: v.detach().clone().requires_grad_(True) for k, v in self.center.items()}
                self.loss = _scalar_loss(objective, leaves, metric)
                self._leaves = [leaves[k] for k in self.names]
                grads = torch.autograd.grad(self.loss, self._leaves, create_graph=True, allow_unused=True)
                # a gradient that does not depend on the parameters (or is absent) has zero Hessian rows
                self._live = [i for i, g in enumerate(grads) if g is not None and g.requires_grad]
                self._grads = [grads[i] for i in self._live]
                self.loss = self.loss.detach()
            else:
                n = len(objective.x)
                self._chunks = [(Supervised(objective.model, xb, yb, objective.criterion), len(xb) / n)
                                for xb, yb in zip(objective.x.split(batch_size), objective.y.split(batch_size))]
                with torch.no_grad():
                    self.loss = sum(w * _scalar_loss(o, self.center, metric) for o, w in self._chunks)
        if not torch.isfinite(self.loss):
            raise NonFiniteCurvature(f"the loss at the centre is {float(self.loss)}; curvature needs a finite "
                                     f"loss (is this a diverged checkpoint?)")

    def hvp(self, v: Params) -> Params:
        """The Hessian-vector product as a ``{name: tensor}`` dict (same names and shapes as the centre)."""
        self.n_hvp += 1
        if self._chunks is None:
            if not self._grads:
                return {k: torch.zeros_like(w) for k, w in self.center.items()}
            tangents = [v[self.names[i]].to(self.dtype) for i in self._live]
            out = torch.autograd.grad(self._grads, self._leaves, tangents, retain_graph=True, allow_unused=True)
            return {k: (o.detach() if o is not None else torch.zeros_like(self.center[k]))
                    for k, o in zip(self.names, out)}
        total = {k: torch.zeros_like(w) for k, w in self.center.items()}
        with eval_mode(self.objective.model):
            for obj, weight in self._chunks:
                f = lambda p, obj=obj: _scalar_loss(obj, p, self.metric)
                _, hv = jvp(grad(f), (self.center,), ({k: v[k].to(self.dtype) for k in self.names},))
                for k in total:
                    total[k] += weight * hv[k].detach()
        return total

    def unflatten(self, flat: torch.Tensor) -> Params:
        return {k: t.reshape(s) for k, t, s in zip(self.names, flat.split(self.sizes), self.shapes)}

    def flatten(self, d: Params) -> torch.Tensor:
        return flatten(d[k] for k in self.names)

    def matvec(self, x: np.ndarray) -> np.ndarray:
        """``H @ x`` on flat float64 numpy vectors (what scipy's LinearOperator calls)."""
        v = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64).reshape(-1)).to(self.device, self.dtype)
        out = self.flatten(self.hvp(self.unflatten(v))).detach().double().cpu().numpy()
        if not np.all(np.isfinite(out)):
            raise NonFiniteCurvature("a Hessian-vector product overflowed to NaN/Inf; the curvature at this point "
                                     "is not finite in this dtype (a diverged checkpoint?)")
        return out

    def linear_operator(self):
        """A ``scipy.sparse.linalg.LinearOperator`` (symmetric, float64) for Lanczos."""
        from scipy.sparse.linalg import LinearOperator
        return LinearOperator((self.n_params, self.n_params), matvec=self.matvec, rmatvec=self.matvec,
                              dtype=np.float64)


def hvp(objective: Objective, center, vector: Params, metric: str = "loss",
        batch_size: int | None = None) -> Params:
    """One Hessian-vector product H(center)·vector of the objective's loss, as a ``{name: tensor}`` dict."""
    return HessianOperator(objective, center, metric, batch_size).hvp(vector)


def _check_k_which(k, which, n_params):
    if which not in WHICH:
        raise ValueError(f"unknown which={which!r}; choose 'largest' (sharpest curvature) or 'smallest' "
                         f"(most negative curvature)")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k (how many eigenpairs) must be an int >= 1, got {k!r}")
    if k >= n_params:
        raise ValueError(f"k={k} must be below the number of parameters ({n_params}): Lanczos finds a few "
                         f"eigenpairs; for all of them use torch.linalg.eigh on the full Hessian")


def _check_solver(tol, max_iter, ncv):
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not tol > 0:
        raise ValueError(f"tol must be a positive number such as 1e-4 (relative accuracy), got {tol!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter (Lanczos restarts) must be an int >= 1, got {max_iter!r}")
    if ncv is not None and (isinstance(ncv, bool) or not isinstance(ncv, int)):
        raise ValueError(f"ncv (Lanczos basis size) must be None or an int, got {ncv!r}")


def _blas_single_thread():
    """Run ARPACK's (tiny) BLAS calls on one thread: OpenBLAS workers otherwise keep spinning after each
    call and take the cores from torch's products (measured: Lanczos about 2x slower). Only scipy's and
    numpy's bundled OpenBLAS are limited (torch keeps its threads); restored afterwards."""
    from threadpoolctl import threadpool_limits
    return threadpool_limits(limits={"libscipy_openblas": 1})


def _sign_fixed(vec: np.ndarray) -> np.ndarray:
    """An eigenvector's sign is arbitrary: make its largest-magnitude entry positive (reproducible pictures)."""
    return -vec if vec[np.argmax(np.abs(vec))] < 0 else vec


def _eigsh(op: HessianOperator, k: int, which: str, tol: float, max_iter: int, ncv: int | None,
           v0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from scipy.sparse.linalg import ArpackError, ArpackNoConvergence, eigsh

    n = op.n_params
    ncv = min(n, max(2 * k + 2, 10) if ncv is None else ncv)
    if not k < ncv <= n:
        raise ValueError(f"ncv={ncv} must satisfy k < ncv <= number of parameters ({k} < ncv <= {n})")
    try:
        with _blas_single_thread():
            vals, vecs = eigsh(op.linear_operator(), k=k, which=WHICH[which], tol=tol, maxiter=max_iter,
                               ncv=ncv, v0=v0)
    except ArpackNoConvergence as e:
        raise RuntimeError(f"Lanczos found only {len(e.eigenvalues)} of k={k} eigenpairs to tol={tol} within "
                           f"max_iter={max_iter} restarts ({op.n_hvp} Hessian-vector products); raise "
                           f"max_iter or tol, or ask for fewer (k)") from None
    except ArpackError:
        if np.any(op.matvec(v0)):
            raise
        # H·v0 = 0 exactly: the loss is linear (or constant) here; every eigenvalue ARPACK could find is 0
        q, _ = np.linalg.qr(np.column_stack([v0, np.random.default_rng(0).standard_normal((n, k - 1))]))
        return np.zeros(k), q
    return vals, vecs


def hessian_eigs(objective: Objective, center, k: int = 2, which: str = "largest", tol: float = 1e-4,
                 max_iter: int = 100, seed: int = 0, ncv: int | None = None, metric: str = "loss",
                 batch_size: int | None = None, v0: Params | None = None) -> Eigs:
    """The ``k`` largest (or most negative, ``which="smallest"``) Hessian eigenvalues of the loss at ``center``.

    Returns ``Eigs(values, directions, info)``: a numpy array sorted from the largest (from the most
    negative for ``"smallest"``), a list of ``{name: tensor}`` unit-norm directions like
    ``random_directions`` returns, usable as-is by ``loss_line``/``loss_plane``, and an ``EigInfo`` with
    the number of Hessian-vector products used. ``center`` is a model or a
    parameter dict. Lanczos (``scipy.sparse.linalg.eigsh``, ARPACK) from a start vector seeded by
    ``seed`` (or ``v0``, e.g. a previous eigenvector, to warm-start): ``tol`` is the relative accuracy,
    ``max_iter`` caps the restarts, ``ncv`` the Lanczos basis size (default max(2k+2, 10)).
    """
    center = parameters_of(center)
    _check_k_which(k, which, sum(v.numel() for v in center.values()))
    _check_solver(tol, max_iter, ncv)
    start = time.perf_counter()
    op = HessianOperator(objective, center, metric, batch_size)
    if v0 is None:
        start_vec = np.random.default_rng(seed).standard_normal(op.n_params)
    else:
        start_vec = op.flatten(parameters_of(v0)).double().cpu().numpy()
        if not np.all(np.isfinite(start_vec)) or not np.any(start_vec):
            raise ValueError("v0 must be a finite, non-zero direction shaped like the model's parameters")
    vals, vecs = _eigsh(op, k, which, float(tol), max_iter, ncv, start_vec)
    order = np.argsort(-vals if which == "largest" else vals)
    vals = np.asarray(vals[order], dtype=np.float64)
    directions = []
    for i in order:
        vec = _sign_fixed(vecs[:, i] / np.linalg.norm(vecs[:, i]))
        directions.append(op.unflatten(torch.from_numpy(vec).to(op.device, op.dtype)))
    info = EigInfo(op.n_hvp, op.n_params, which, float(tol), time.perf_counter() - start)
    return Eigs(vals, directions, info)


def sharpness(objective: Objective, checkpoints, tol: float = 1e-2, max_iter: int = 100, seed: int = 0,
              ncv: int | None = 4, warm_start: bool = True, metric: str = "loss",
              batch_size: int | None = None) -> Sharpness:
    """The top Hessian eigenvalue (sharpness) of the loss at each checkpoint: ``Sharpness(values, infos)``.

    ``checkpoints`` is a list of parameter dicts or a ``train_classifier`` ``Run`` (its ``.checkpoints``);
    pass a slice (``run.checkpoints[::3]``) or an objective on fewer images to make it cheaper. Each
    solve warm-starts from the previous checkpoint's top eigenvector (mixed with a little seeded noise)
    with a loose ``tol`` and a small Lanczos basis ``ncv``: neighbouring checkpoints have similar
    curvature (``tol`` bounds the residual; the eigenvalue itself is far more accurate). A diverged
    checkpoint (non-finite loss) gives NaN. Compare with ``stability_limit(lr, momentum)``.
    """
    checkpoints = list(getattr(checkpoints, "checkpoints", checkpoints))
    if not checkpoints:
        raise ValueError("no checkpoints given; pass run.checkpoints of a train_classifier run")
    rng = np.random.default_rng(seed)
    values, infos, prev = [], [], None
    for ckpt in checkpoints:
        v0 = None
        if warm_start and prev is not None:
            noise = {n: torch.as_tensor(rng.standard_normal(tuple(t.shape))).to(t) for n, t in prev.items()}
            scale = 0.1 / math.sqrt(sum(float((t.double() ** 2).sum()) for t in noise.values()))
            v0 = {n: prev[n] + scale * noise[n] for n in prev}
        try:
            vals, vecs, info = hessian_eigs(objective, ckpt, k=1, which="largest", tol=tol, max_iter=max_iter,
                                            seed=int(rng.integers(2**31)), ncv=ncv, metric=metric,
                                            batch_size=batch_size, v0=v0)
        except NonFiniteCurvature:
            values.append(float("nan"))
            infos.append(None)
            prev = None
            continue
        values.append(float(vals[0]))
        infos.append(info)
        prev = vecs[0]
    return Sharpness(np.asarray(values), infos)
