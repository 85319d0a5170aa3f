"""A model's state read and restored without surprising its caller: parameters copied out and loaded in, train/eval modes kept, the global RNGs kept."""
from __future__ import annotations

import copy
import random
from contextlib import contextmanager

import numpy as np
import torch


@contextmanager
def modes_kept(model: torch.nn.Module):
    """Run a block that may switch train/eval modes; afterwards every submodule has its own mode back."""
    modes = [(m, m.training) for m in model.modules()]
    try:
        yield model
    finally:
        for m, was in modes:
            m.training = was


@contextmanager
def eval_mode(model: torch.nn.Module):
    """Run a block with the model in eval mode (BatchNorm statistics fixed), then restore every
    submodule's own mode and any tensor attribute a forward hook set (old ``weight_norm`` API)."""
    attrs = [(m, {k: v for k, v in vars(m).items() if isinstance(v, torch.Tensor)}) for m in model.modules()]
    try:
        with modes_kept(model):
            yield model.eval()
    finally:
        for m, saved in attrs:
            for k in [k for k, v in vars(m).items() if isinstance(v, torch.Tensor) and k not in saved]:
                delattr(m, k)
            for k, v in saved.items():
                if vars(m).get(k) is not v:
                    setattr(m, k, v)


def load_params(model: torch.nn.Module, params) -> torch.nn.Module:
    """A copy of ``model`` holding ``params`` (the plain, one-point-at-a-time way; used as a reference)."""
    # tensors a forward hook keeps as plain attributes (old weight_norm API) are not graph leaves and
    # refuse deepcopy; they are recomputed from the parameters at every forward, so copy them detached
    memo = {id(v): v.detach().clone() for m in model.modules() for v in vars(m).values()
            if isinstance(v, torch.Tensor) and not isinstance(v, torch.nn.Parameter) and not v.is_leaf}
    clone = copy.deepcopy(model, memo)
    with torch.no_grad():
        for k, p in clone.named_parameters():
            p.copy_(params[k])
    return clone


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of the model's parameters (a checkpoint for trajectories)."""
    return {k: v.detach().clone() for k, v in model.named_parameters()}


@contextmanager
def global_rngs_kept():
    """Run a block that seeds or draws from the global generators (``random``, numpy's, torch's on the
    CPU and on every initialised GPU), then put their states back: the caller's later draws are the ones
    it would have made without the block."""
    py_state, np_state = random.getstate(), np.random.get_state()
    gpus = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=gpus):
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


@torch.no_grad()
@contextmanager
def model_kept(model: torch.nn.Module):
    """Run a block that may switch modes, write ``.grad`` or update BatchNorm statistics; afterwards the
    model's modes, ``.grad`` and buffers are as they were (the caller's model is never modified)."""
    grads = [(p, p.grad) for p in model.parameters()]
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    try:
        with modes_kept(model):
            yield model
    finally:
        for p, g in grads:
            p.grad = g
        with torch.no_grad():
            for b, saved in buffers:
                b.copy_(saved)
