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
    assert np.allclose(arr["lr"], 1e-3)
    known = ls.TrainLog()
    assert known.max_grad_norm == 0.0 and known.fraction_clipped == 0.0
    for norm, clipped in ((0.5, False), (3.0, True), (1.0, True), (2.0, False)):
        known.record(ls.StepResult(loss=1.0, grad_norm=norm, clipped=clipped), opt)
    assert known.max_grad_norm == 3.0 and known.fraction_clipped == 0.5


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


# ---- notebook 01's helpers: schedules fitted to the run, verdicts, instability, curvature ----

from lossurf.schedules import fitted_schedule, SEED_SETTINGS
from lossurf.mnist import lessons
from lossurf.mnist.figures import symlog_axis


@pytest.mark.parametrize("total", [60, 237, 1000])
def test_fitted_schedules_do_what_their_names_promise(total):
    lr0 = 0.1
    kw, note = fitted_schedule("step", total, lr0)
    lrs = lr_sequence("step", units=total, lr0=lr0, **kw)
    assert "x0.9 every 100" in note and len(np.unique(lrs)) >= 9          # ~10 cuts within the run
    kw, note = fitted_schedule("exponential", total, lr0)
    assert "x0.99 per unit" in note
    assert math.isclose(lr_sequence("exponential", units=total + 1, lr0=lr0, **kw)[-1], 0.1 * lr0, rel_tol=1e-6)
    kw, note = fitted_schedule("decay_floor", total, lr0)
    lrs = lr_sequence("decay_floor", units=total, lr0=lr0, **kw)
    reached = np.nonzero(np.isclose(lrs, kw["min_lr"]))[0]
    assert "x0.998" in note and reached.size and reached[0] <= total // 2 + 1 and np.isclose(lrs[-1], kw["min_lr"])
    kw, note = fitted_schedule("cosine", total, lr0)
    assert np.isclose(lr_sequence("cosine", units=total + 1, lr0=lr0, total=total, **kw)[-1], 1e-4)
    kw, note = fitted_schedule("plateau", total, lr0)
    assert kw["plateau_factor"] == 0.5 and 2 <= kw["plateau_patience"] < total and "x0.5" in note
    assert fitted_schedule("constant", total, lr0)[0] == {}
    assert set(SEED_SETTINGS) == set(SCHEDULES)


def test_fitted_schedule_bad_input():
    with pytest.raises(ValueError, match="unknown LR schedule"):
        fitted_schedule("cosin", 100, 0.1)
    with pytest.raises(ValueError, match="at least 2"):
        fitted_schedule("step", 1, 0.1)


def test_plateau_in_training_watches_the_recent_mean_loss():
    from lossurf.mnist.classifier import mlp, train_classifier
    torch.manual_seed(0)
    x, y = torch.randn(256, 20), torch.randint(0, 3, (256,))
    kw, _ = fitted_schedule("plateau", 80, 0.05)
    run = train_classifier(mlp((20, 16, 3), seed=0), x, y, epochs=20, batch_size=64, lr=0.05, schedule="plateau",
                           schedule_kw=kw, metric_window=8)
    lr = np.array(run.log.lr)
    halvings = np.log2(0.05 / lr)
    assert lr[0] == 0.05 and lr[-1] < 0.05 and np.allclose(halvings, np.round(halvings))      # only x0.5 cuts
    assert run.checkpoint_every == 10
    with pytest.raises(ValueError, match="metric_window"):
        train_classifier(mlp((20, 3), seed=0), x, y, metric_window=0)


def test_the_old_verdict_helper_is_gone():
    """Notebook 01 prints its verdicts with lossurf.report.verdict only (one format, stable names)."""
    assert not hasattr(lessons, "verdict")


class _Run:
    def __init__(self, checkpoints, every=10):
        self.checkpoints, self.checkpoint_every = checkpoints, every


def _weight_objective():
    model = nn.Linear(1, 1, bias=False)
    return ls.FunctionObjective(model, lambda obj, p: {"loss": p["weight"].sum()})


def test_instability_counts_rises_of_the_full_loss_while_learning():
    obj = _weight_objective()
    losses = [2.0, 1.0, 1.5, 1.0, 1.05, 1.2]
    run = _Run([{"weight": torch.tensor([[v]])} for v in losses])
    m = lessons.instability(obj, run)
    assert np.allclose(m["losses"], losses) and m["rises"] == 2 and math.isclose(m["max_rise"], 1.5, rel_tol=1e-6)
    assert not m["dead"] and math.isclose(m["final"], 1.2, rel_tol=1e-6)
    dead = lessons.instability(obj, _Run([{"weight": torch.tensor([[v]])} for v in [2.3, 2.5, 2.31, 2.302]]))
    assert dead["dead"] and dead["rises"] == 0           # jumps at the guessing level are not "learning"
    fine = _Run([{"weight": torch.tensor([[v]])} for v in [1.0, 9.0, 0.9, 9.0, 0.8]], every=5)
    assert np.allclose(lessons.instability(obj, fine, every=10)["losses"], [1.0, 0.9, 0.8])   # every 2nd checkpoint


def test_weight_change_and_directional_curvature():
    before = {"0.weight": torch.ones(2, 2), "0.bias": torch.zeros(2), "1.weight": torch.ones(1, 2)}
    after = {"0.weight": torch.ones(2, 2) * 1.5, "0.bias": torch.ones(2), "1.weight": torch.ones(1, 2)}
    assert np.allclose(lessons.weight_change(before, after), [0.5, 0.0])
    a = torch.tensor([[3.0, 1.0], [1.0, 2.0]])
    model = nn.Linear(2, 1, bias=False)
    obj = ls.FunctionObjective(model, lambda o, p: {"loss": 0.5 * (p["weight"] @ a @ p["weight"].T).sum()})
    u = {"weight": torch.tensor([[1.0, 2.0]])}
    expected = float(u["weight"] @ a @ u["weight"].T) / 5.0
    got = lessons.directional_curvature(obj, {"weight": torch.tensor([[0.3, -0.7]])}, u)
    assert math.isclose(got, expected, rel_tol=1e-5)


def test_symlog_axis():
    ax = symlog_axis(1000.0, 31, smallest=1.0)
    assert len(ax) == 31 and ax[15] == 0 and np.isclose(ax[-1], 1000) and np.allclose(ax, -ax[::-1])
    assert np.isclose(ax[16], 1.0) and np.allclose(ax[17:] / ax[16:-1], ax[17] / ax[16])
    assert len(symlog_axis(5.0, 30)) == 30
    with pytest.raises(ValueError):
        symlog_axis(1.0, 2)
