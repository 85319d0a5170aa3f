import math

import numpy as np
import pytest
import torch
import torch.nn as nn

import lossurf as ls
from lossurf.schedules import SCHEDULES


def tiny_run(seed, steps=20):
    ls.seed_everything(seed)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 1))
    x, y = torch.randn(64, 5), torch.randn(64, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        idx = torch.randint(0, 64, (8,))
        ls.train_step(opt, lambda: nn.functional.mse_loss(model(x[idx]), y[idx]), clip_norm=1.0)
    return model.state_dict()


def test_same_seed_same_weights_other_seed_different():
    a, b, c = tiny_run(3), tiny_run(3), tiny_run(4)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def _setup():
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    x, y = torch.randn(10, 4) * 10, torch.randn(10, 3)
    return model, lambda: nn.functional.mse_loss(model(x), y)


def _grad_norm(model):
    return float(torch.cat([p.grad.reshape(-1) for p in model.parameters()]).norm())



@pytest.mark.parametrize("c", [0.5, 1.0, 5.0])
def test_clipping_bounds_norm_and_reports_preclip_norm(c):
    model, loss = _setup()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    loss().backward()
    raw = _grad_norm(model)
    assert raw > 5.0                         # the example really needs clipping
    res = ls.train_step(opt, loss, clip_norm=c)
    assert math.isclose(res.grad_norm, raw, rel_tol=1e-6)
    assert _grad_norm(model) <= c * (1 + 1e-6) and res.clipped


def test_no_clipping_leaves_gradient_untouched():
    model, loss = _setup()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    loss().backward()
    expected = [p.grad.clone() for p in model.parameters()]
    res = ls.train_step(opt, loss, clip_norm=None)
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), expected))
    assert not res.clipped and math.isclose(res.grad_norm, _grad_norm(model), rel_tol=1e-6)


def test_small_gradient_is_not_clipped():
    model, loss = _setup()
    res = ls.train_step(torch.optim.SGD(model.parameters(), lr=0.0), loss, clip_norm=1e6)
    assert not res.clipped


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), "1.0", True])
def test_bad_clip_norm_is_a_clear_error(bad):
    model, loss = _setup()
    with pytest.raises(ValueError, match="clip_norm"):
        ls.train_step(torch.optim.SGD(model.parameters(), lr=0.1), loss, clip_norm=bad)


@pytest.mark.parametrize("bad", [0, -1e-3, float("nan")])
def test_bad_lr_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="learning rate"):
        ls.check_lr(bad)


def test_log_records_and_converts():
    model, loss = _setup()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    log = ls.TrainLog()
    for _ in range(5):
        log.record(ls.train_step(opt, loss, clip_norm=1.0), opt)
    arr = log.arrays()
    assert set(arr) == {"loss", "grad_norm", "clipped", "lr"} and len(log) == 5
    assert arr["clipped"].dtype == bool and log.fraction_clipped == 1.0
    assert np.allclose(arr["lr"], 1e-3) and log.max_grad_norm == arr["grad_norm"].max()


def lr_sequence(name, units=300, lr0=0.1, **kw):
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr0)
    sched = ls.make_scheduler(opt, name, **kw)
    out = []
    for t in range(units):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        ls.step_scheduler(sched, metric=1.0)
    return np.array(out)


def test_schedules_match_closed_forms():
    t = np.arange(300)
    assert np.allclose(lr_sequence("constant"), 0.1)
    assert np.allclose(lr_sequence("step"), 0.1 * 0.9 ** (t // 100))
    assert np.allclose(lr_sequence("exponential"), 0.1 * 0.99 ** t)
    cos = 1e-4 + (0.1 - 1e-4) * (1 + np.cos(np.pi * t / 300)) / 2
    assert np.allclose(lr_sequence("cosine", total=300), cos)
    assert np.allclose(lr_sequence("decay_floor", min_lr=0.02), np.maximum(0.1 * 0.998 ** t, 0.02))
    # a metric that never improves: halve after `patience` bad units (first call sets the best)
    plateau = lr_sequence("plateau", units=30, plateau_patience=4)
    assert plateau[0] == 0.1 and plateau[-1] < 0.1 / 8 and set(np.round(plateau / 0.1, 6)) <= {
        1, 0.5, 0.25, 0.125, 0.0625, 0.03125}


def test_schedule_bad_input():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="unknown LR schedule 'cosin'.*constant, step"):
        ls.make_scheduler(opt, "cosin")
    with pytest.raises(ValueError, match="total"):
        ls.make_scheduler(opt, "cosine")
    with pytest.raises(ValueError, match="min_lr"):
        ls.make_scheduler(opt, "decay_floor", min_lr=0.5)
    with pytest.raises(ValueError, match="metric"):
        ls.step_scheduler(ls.make_scheduler(opt, "plateau"))
    assert set(SCHEDULES) == {"constant", "step", "exponential", "plateau", "cosine", "decay_floor"}


def test_progress_is_silent_when_disabled(capsys, monkeypatch):
    monkeypatch.setenv("LOSSURF_PROGRESS", "0")
    assert list(ls.progress(range(3), desc="x")) == [0, 1, 2]
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    monkeypatch.setenv("LOSSURF_PROGRESS", "1")
    list(ls.progress(range(3), desc="visible"))
    assert "visible" in capsys.readouterr().err
