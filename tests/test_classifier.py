"""Notebook 01's classifier helpers: they compute what they say and leave the caller's model and global
random generators as they were."""
import copy
import random

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from lossurf.mnist.classifier import evaluate, gradient, layer_grad_norms, mlp
from lossurf.model_state import global_rngs_kept


def _draws():
    return random.random(), float(np.random.random()), float(torch.rand(()))


def test_mlp_with_a_seed_leaves_the_global_generators_alone():
    torch.manual_seed(123), np.random.seed(123), random.seed(123)
    want = _draws()
    torch.manual_seed(123), np.random.seed(123), random.seed(123)
    mlp((6, 5, 3), seed=7)
    assert _draws() == want


def test_mlp_with_a_seed_draws_the_weights_of_that_seed():
    torch.manual_seed(7)
    want = nn.Sequential(nn.Flatten(), nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    torch.manual_seed(0)
    got = mlp((6, 5, 3), seed=7)
    for (k, a), b in zip(got.state_dict().items(), want.state_dict().values()):
        assert torch.equal(a, b), k
    scaled = mlp((6, 5, 3), init_scale=2.0, seed=7)
    assert torch.equal(scaled[1].weight, 2.0 * want[1].weight) and torch.equal(scaled[1].bias, want[1].bias)


def test_global_rngs_kept_restores_every_generator_also_after_an_error():
    torch.manual_seed(5), np.random.seed(5), random.seed(5)
    want = _draws()
    torch.manual_seed(5), np.random.seed(5), random.seed(5)
    with pytest.raises(RuntimeError):
        with global_rngs_kept():
            torch.manual_seed(0), np.random.seed(0), random.seed(0)
            _draws()
            raise RuntimeError("inside")
    assert _draws() == want


def _bn_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4),
                         nn.Dropout(0.0), nn.Linear(4, 3))


def test_layer_grad_norms_are_each_linear_weights_gradient_norm():
    model = _bn_model()
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(32, 6, generator=g), torch.randint(0, 3, (32,), generator=g)
    ref = copy.deepcopy(model).train()
    F.cross_entropy(ref(x), y).backward()
    want = [float(ref[i].weight.grad.norm()) for i in (1, 4, 6)]
    assert layer_grad_norms(model, x, y) == want


@pytest.mark.parametrize("fn", [layer_grad_norms, evaluate, gradient], ids=lambda f: f.__name__)
def test_leave_modes_grads_and_batchnorm_statistics_as_they_were(fn):
    model = _bn_model()
    model.eval()
    model[5].train()                                  # a mixed set of modes must come back as it was
    for p in model.parameters():
        p.grad = torch.full_like(p, 0.25)
    model[6].bias.grad = None
    before = copy.deepcopy(model.state_dict())
    grads = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    g = torch.Generator().manual_seed(2)
    fn(model, torch.randn(16, 6, generator=g), torch.randint(0, 3, (16,), generator=g))
    assert [m.training for m in model.modules()] == [False] * 6 + [True, False]
    for p, want in zip(model.parameters(), grads):
        assert (p.grad is None) if want is None else torch.equal(p.grad, want)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_evaluate_and_gradient_values():
    g = torch.Generator().manual_seed(3)
    model = mlp((6, 5, 3), seed=0)
    x, y = torch.randn(20, 6, generator=g), torch.randint(0, 3, (20,), generator=g)
    with torch.no_grad():
        out = model(x)
    got = evaluate(model, x, y)
    assert got["loss"] == pytest.approx(float(F.cross_entropy(out, y)))
    assert got["accuracy"] == float((out.argmax(1) == y).float().mean())
    direction, norm = gradient(model, x, y)
    ref = copy.deepcopy(model)
    F.cross_entropy(ref(x), y).backward()
    for k, p in ref.named_parameters():
        assert torch.equal(direction[k], p.grad)
    assert norm == pytest.approx(float(torch.sqrt(sum((p.grad ** 2).sum() for p in ref.parameters()))))
