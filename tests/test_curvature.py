"""Hessian eigenpairs against the exact Hessian of small models; the model is never touched; clear errors."""
import copy

import numpy as np
import pytest
import torch
import torch.nn as nn

import lossurf as ls
from lossurf.mnist.classifier import mlp, train_classifier
from lossurf.curvature import HessianOperator, hvp, stability_limit


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one thread is fastest and does not stall when other processes share the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def flat(d):
    return torch.cat([v.reshape(-1) for v in d.values()])


def exact_hessian(objective_64, center):
    """The full Hessian in float64 on the flattened parameters (the reference)."""
    names = list(center)
    shapes = [center[k].shape for k in names]
    sizes = [center[k].numel() for k in names]

    def f(v):
        return objective_64({k: t.reshape(s) for k, t, s in zip(names, v.split(sizes), shapes)})["loss"]

    return torch.autograd.functional.hessian(f, flat(center).double())


def tanh_mlp_case(seed=0):
    """A tiny tanh MLP (float32) on random data, plus its float64 twin for the exact Hessian."""
    torch.manual_seed(seed)
    model = mlp((3, 5, 3), activation="tanh", seed=seed)
    x, y = torch.randn(40, 3), torch.randint(0, 3, (40,))
    model64 = copy.deepcopy(model).double()
    return model, ls.Supervised(model, x, y), ls.Supervised(model64, x.double(), y)


def designed_quadratic(eigenvalues, seed=0):
    """0.5 wᵀHw + bᵀw on a 4x5 Linear (25 parameters) with the Hessian H's spectrum chosen."""
    model = nn.Linear(4, 5).double()
    n = sum(p.numel() for p in model.parameters())
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
    lam = torch.zeros(n, dtype=torch.float64)
    lam[:len(eigenvalues)] = torch.tensor(eigenvalues, dtype=torch.float64)
    rest = torch.linspace(0.1, 1.0, n - len(eigenvalues), dtype=torch.float64)
    lam[len(eigenvalues):] = rest
    h = q @ torch.diag(lam) @ q.T
    b = torch.randn(n, generator=g, dtype=torch.float64)

    def fn(obj, params):
        w = torch.cat([params["weight"].reshape(-1), params["bias"].reshape(-1)])
        return {"loss": 0.5 * w @ (h.to(w) @ w) + b.to(w) @ w}

    return model, ls.FunctionObjective(model, fn), h


def check_against_exact(vals, vecs, h, which="largest"):
    ev, evec = torch.linalg.eigh(h)
    order = torch.argsort(-ev) if which == "largest" else torch.argsort(ev)
    for i, (val, vec) in enumerate(zip(vals, vecs)):
        ref = float(ev[order[i]])
        assert abs(val - ref) <= 1e-3 * abs(ref), (i, val, ref)
        cos = float(flat(vec).double() @ evec[:, order[i]])
        assert abs(cos) > 0.99, (i, cos)
        assert abs(float(flat(vec).double().norm()) - 1) < 1e-5


def test_top2_tanh_mlp_matches_exact_hessian():
    model, obj, obj64 = tanh_mlp_case()
    vals, vecs, _ = ls.hessian_eigs(obj, model, k=2)
    assert isinstance(vals, np.ndarray) and vals.shape == (2,) and vals[0] >= vals[1]
    assert [set(v) for v in vecs] == [set(dict(model.named_parameters()))] * 2
    h = exact_hessian(obj64, ls.parameters_of(model))
    check_against_exact(vals, vecs, h)


def test_close_eigenvalues_three_percent_apart_are_resolved():
    model, obj, h = designed_quadratic([10.0, 9.7, 5.0])
    vals, vecs, info = ls.hessian_eigs(obj, model, k=2)
    check_against_exact(vals, vecs, h)
    assert np.allclose(vals, [10.0, 9.7], rtol=1e-6)
    assert info.n_hvp > 0 and info.n_params == 25 and info.which == "largest"


def test_smallest_finds_negative_curvature():
    model, obj, h = designed_quadratic([6.0, -2.0, -1.5])
    vals, vecs, _ = ls.hessian_eigs(obj, model, k=2, which="smallest")
    assert vals[0] < vals[1] < 0
    check_against_exact(vals, vecs, h, which="smallest")
    # the tanh MLP's own negative curvature direction, too
    model, obj, obj64 = tanh_mlp_case(seed=1)
    h = exact_hessian(obj64, ls.parameters_of(model))
    assert float(torch.linalg.eigvalsh(h)[0]) < 0
    vals, vecs, _ = ls.hessian_eigs(obj, model, k=1, which="smallest")
    check_against_exact(vals, vecs, h, which="smallest")


def test_hvp_matches_exact_and_batched_data_matches_whole():
    model, obj, obj64 = tanh_mlp_case()
    center = ls.parameters_of(model)
    v = {k: torch.randn_like(w) for k, w in center.items()}
    h = exact_hessian(obj64, center)
    ref = h @ flat(v).double()
    whole = flat(hvp(obj, model, v)).double()
    chunked = flat(hvp(obj, model, v, batch_size=7)).double()
    assert torch.allclose(whole, ref, rtol=1e-4, atol=1e-5)
    assert torch.allclose(chunked, ref, rtol=1e-4, atol=1e-5)
    vals_chunked = ls.hessian_eigs(obj, model, k=2, batch_size=7)[0]
    assert np.allclose(vals_chunked, ls.hessian_eigs(obj, model, k=2)[0], rtol=1e-4)


def test_seeded_results_are_reproducible():
    model, obj, _ = tanh_mlp_case()
    v1, d1, i1 = ls.hessian_eigs(obj, model, k=2, seed=3)
    v2, d2, i2 = ls.hessian_eigs(obj, ls.parameters_of(model), k=2, seed=3)
    assert np.array_equal(v1, v2) and i1.n_hvp == i2.n_hvp
    for a, b in zip(d1, d2):
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_model_state_training_flag_and_grad_untouched():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Dropout(0.5), nn.Linear(6, 2))
    x, y = torch.randn(30, 3), torch.randint(0, 2, (30,))
    model.train()
    for p in model.parameters():
        p.grad = torch.full_like(p, 7.0)
    before = copy.deepcopy(model.state_dict())
    obj = ls.Supervised(model, x, y)
    v1, _, _ = ls.hessian_eigs(obj, model, k=2)
    v2, _, _ = ls.hessian_eigs(obj, model, k=2)          # dropout off, statistics fixed: the same numbers
    assert np.array_equal(v1, v2)
    assert model.training
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(torch.equal(p.grad, torch.full_like(p, 7.0)) for p in model.parameters())


def test_eigenvectors_work_in_loss_line():
    model, obj, h = designed_quadratic([10.0, 9.7, 5.0])
    vals, vecs, _ = ls.hessian_eigs(obj, model, k=2)
    center = ls.parameters_of(model)
    alphas = np.linspace(-1, 1, 5)
    line = ls.loss_line(obj, center, vecs[0], alphas)
    loss0 = float(obj(center)["loss"])
    slope = float(flat(vecs[0]).double() @ torch.autograd.functional.jacobian(
        lambda w: obj({"weight": w[:20].reshape(5, 4), "bias": w[20:]})["loss"], flat(center).double()))
    # a quadratic: exactly loss0 + slope·a + ½λa² along a unit eigenvector
    assert np.allclose(line.values["loss"], loss0 + slope * alphas + 0.5 * vals[0] * alphas ** 2, rtol=1e-6)
    plane = ls.loss_plane(obj, center, vecs, alphas, alphas)
    assert plane.values["loss"].shape == (5, 5)


def test_sharpness_along_a_training_run():
    torch.manual_seed(0)
    x, y = torch.randn(60, 4), torch.randint(0, 3, (60,))
    run = train_classifier(mlp((4, 6, 3), activation="tanh", seed=0), x, y, epochs=1, batch_size=20,
                           lr=0.5, checkpoint_every=1)
    obj = ls.Supervised(run.model, x, y)
    sharp, infos = ls.sharpness(obj, run)
    assert sharp.shape == (len(run.checkpoints),) and len(infos) == len(run.checkpoints)
    obj64 = ls.Supervised(copy.deepcopy(run.model).double(), x.double(), y)
    for s, ck in zip(sharp, run.checkpoints):
        top = float(torch.linalg.eigvalsh(exact_hessian(obj64, ck))[-1])
        assert abs(s - top) <= 1e-3 * abs(top)
    assert np.array_equal(ls.sharpness(obj, run.checkpoints).values, sharp)


def test_stability_limit():
    assert stability_limit(0.1) == pytest.approx(20.0)
    assert stability_limit(0.1, momentum=0.9) == pytest.approx(38.0)
    with pytest.raises(ValueError, match="lr"):
        stability_limit(0.0)
    with pytest.raises(ValueError, match="momentum"):
        stability_limit(0.1, momentum=1.0)


def test_clear_errors():
    model, obj, _ = tanh_mlp_case()
    n = sum(p.numel() for p in model.parameters())
    with pytest.raises(ValueError, match="k .*>= 1"):
        ls.hessian_eigs(obj, model, k=0)
    with pytest.raises(ValueError, match=f"below the number of parameters \\({n}\\)"):
        ls.hessian_eigs(obj, model, k=n)
    with pytest.raises(ValueError, match="unknown which='top'.*'largest'.*'smallest'"):
        ls.hessian_eigs(obj, model, which="top")
    per_example = ls.FunctionObjective(model, lambda o, p: {"loss": o.run(p, torch.randn(4, 3)).sum(1)})
    with pytest.raises(ValueError, match="scalar tensor.*reduce it"):
        ls.hessian_eigs(per_example, model)
    with pytest.raises(ValueError, match="no 'loss' entry"):
        ls.hessian_eigs(ls.FunctionObjective(model, lambda o, p: {"td": o.run(p, torch.randn(4, 3)).sum()}), model)
    with pytest.raises(ValueError, match="batch_size"):
        HessianOperator(per_example, model, batch_size=2)


def test_flat_loss_gives_zero_and_diverged_checkpoint_gives_nan():
    model = nn.Linear(4, 5)
    linear = ls.FunctionObjective(model, lambda o, p: p["weight"].sum() + p["bias"].sum())
    vals, vecs, _ = ls.hessian_eigs(linear, model, k=2)                  # zero Hessian: no ARPACK error
    assert np.array_equal(vals, [0.0, 0.0]) and abs(ls.cosine(vecs[0], vecs[1])) < 1e-6
    square = ls.FunctionObjective(model, lambda o, p: p["weight"].sum() ** 2 + p["bias"].sum())
    center = ls.parameters_of(model)
    diverged = {k: v.clone() for k, v in center.items()}
    diverged["bias"][0] = float("nan")
    sharp = ls.sharpness(square, [center, diverged, center]).values
    assert np.isnan(sharp[1]) and np.allclose(sharp[[0, 2]], 40.0, rtol=1e-6)   # 2·11ᵀ on 20 weights
    with pytest.raises(ValueError, match="finite loss"):
        ls.hessian_eigs(square, diverged)
