"""Issue 12: the right numbers or a clear error on any model, and the caller's model never modified.

Each test names the case of the issue it covers; the reference is always ``method="loop"`` (a copy of
the model holding the point's weights, evaluated the ordinary way).
"""
import ast
import pathlib
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn

import lossurf as ls
from lossurf import fastpath, surface

GRID = np.linspace(-1.0, 1.0, 4)


def data(shape, n=60, classes=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *shape, generator=g), torch.randint(0, classes, (n,), generator=g)


def plane(obj, model, method="auto", grid=GRID, seed=3, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ls.loss_plane(obj, model, ls.random_directions(model, 2, seed=seed), grid, grid, method=method, **kw)


def assert_same(res, ref, rtol=1e-5, atol=1e-6):
    for k in ref.values:
        np.testing.assert_allclose(res.values[k], ref.values[k], rtol=rtol, atol=atol, err_msg=k)


# ---- 1. the fast path trusts exact types only ------------------------------------------------------

class Tempered(nn.Sequential):
    """A Sequential subclass with its own forward: logits divided by a temperature."""

    def forward(self, x):
        return super().forward(x) / 3.0


class LoRALinear(nn.Linear):
    """A Linear subclass with an extra low-rank term."""

    def __init__(self, i, o, r=2):
        super().__init__(i, o)
        self.a = nn.Parameter(torch.randn(r, i) * 0.5)
        self.b = nn.Parameter(torch.randn(o, r) * 0.5)

    def forward(self, x):
        return super().forward(x) + x @ self.a.T @ self.b.T


class WSConv(nn.Conv2d):
    """A weight-standardised Conv2d subclass."""

    def forward(self, x):
        w = self.weight
        w = (w - w.mean((1, 2, 3), keepdim=True)) / (w.std((1, 2, 3), keepdim=True) + 1e-5)
        return self._conv_forward(x, w, self.bias)


def subclass_models():
    torch.manual_seed(0)
    return {
        "sequential_subclass": (Tempered(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 3)), (3, 4)),
        "lora_linear": (nn.Sequential(LoRALinear(12, 16), nn.ReLU(), nn.Linear(16, 3)), (12,)),
        "weight_standardised_conv": (nn.Sequential(WSConv(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3)),
                                     (1, 6, 6)),
    }


@pytest.mark.parametrize("case", ["sequential_subclass", "lora_linear", "weight_standardised_conv"])
def test_case1_subclasses_are_not_taken_for_their_base_type(case):
    model, shape = subclass_models()[case]
    x, y = data(shape)
    obj = ls.Supervised(model, x, y)
    auto, loop = plane(obj, model), plane(obj, model, "loop")
    assert_same(auto, loop)
    assert auto.metadata["method"] != "fast"
    assert not fastpath.applies(obj)


# ---- 2. accuracy uses argmax's tie rule; diverged points agree across methods ------------------

@pytest.mark.parametrize("method", ["auto", "fast", "vmap", "loop"])
def test_case2_zero_initialised_output_ties_follow_argmax(method):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 3))
    nn.init.zeros_(model[2].weight)
    nn.init.zeros_(model[2].bias)
    x, y = data((12,), n=50)
    res = plane(ls.Supervised(model, x, y), model, method)
    truth = float((torch.zeros(len(y), 3).argmax(-1) == y).float().mean())          # every logit tied
    assert truth < 0.5
    np.testing.assert_allclose(res.values["accuracy"], truth, atol=1e-7)


def test_case2_diverged_points_have_the_same_accuracy_on_every_method():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 3))
    x, y = data((3, 4))
    obj = ls.Supervised(model, x, y)
    d = ls.random_directions(model, 1, seed=0)[0]
    big = float(np.finfo(np.float32).max) / 2
    coords = [0.0, big, 0.5, -big, 3e18]
    res = {m: ls.loss_line(obj, model, d, coords, method=m) for m in ("fast", "vmap", "loop")}
    assert res["loop"].n_nonfinite() >= 2
    for m in ("fast", "vmap"):
        np.testing.assert_array_equal(np.isfinite(res[m].values["loss"]), np.isfinite(res["loop"].values["loss"]))
        np.testing.assert_allclose(res[m].values["accuracy"], res["loop"].values["accuracy"], atol=1e-7)
    assert np.isnan(res["loop"].values["accuracy"][~np.isfinite(res["loop"].values["loss"])]).all()


# ---- 3. layers that mix examples --------------------------------------------------------------

def test_case3_batchnorm_without_running_stats_is_not_split_into_tiles():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4, track_running_stats=False), nn.ReLU(),
                          nn.Flatten(), nn.Linear(64, 3))
    x, y = data((1, 6, 6), n=700)
    obj = ls.Supervised(model, x, y)
    grid = np.linspace(-1, 1, 3)
    assert_same(plane(obj, model, grid=grid), plane(obj, model, "loop", grid=grid))
    assert "batch statistics" in fastpath.exactness_problem(obj)


def test_softmax_over_the_batch_dimension_is_not_taken():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3), nn.Softmax(dim=0))
    x, y = torch.randn(40, 6), torch.rand(40, 3)
    obj = ls.Supervised(model, x, y, criterion="mse")
    assert "softmax" in fastpath.exactness_problem(obj)
    assert_same(plane(obj, model), plane(obj, model, "loop"))
    model[3] = nn.Softmax(dim=-1)
    assert fastpath.exactness_problem(ls.Supervised(model, x, y, criterion="mse")) is None


# ---- 4. targets of another shape than the output ------------------------------------------------

def test_case4_mse_with_n1_outputs_and_n_targets_matches_the_loop():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 1))
    x, y = torch.randn(40, 5), torch.randn(40)
    obj = ls.Supervised(model, x, y, criterion="mse")
    auto, loop = plane(obj, model), plane(obj, model, "loop")
    assert_same(auto, loop)
    assert auto.metadata["method"] != "fast"


# ---- the centre guard and the recorded method ---------------------------------------------------

def test_centre_guard_warns_and_takes_the_generic_path(monkeypatch):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 3))
    x, y = data((12,))
    obj = ls.Supervised(model, x, y)
    dirs = ls.random_directions(model, 2, seed=0)
    real = fastpath.evaluate
    monkeypatch.setattr(fastpath, "evaluate", lambda *a, **k: {key: v + 0.01 for key, v in real(*a, **k).items()})
    with pytest.warns(RuntimeWarning, match="fast path not used"):
        res = ls.loss_plane(obj, model, dirs, GRID, GRID)
    assert res.metadata["method"] == "vmap"
    assert_same(res, ls.loss_plane(obj, model, dirs, GRID, GRID, method="loop"))
    with pytest.raises(ValueError, match="not exact"):
        ls.loss_plane(obj, model, dirs, GRID, GRID, method="fast")


def test_metadata_records_the_method_that_ran():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 3))
    x, y = data((12,))
    obj = ls.Supervised(model, x, y)
    assert plane(obj, model).metadata["method"] == "fast"
    assert plane(ls.Supervised(Tempered(*model), x, y), Tempered(*model)).metadata["method"] == "vmap"


# ---- crashes where a fallback exists ------------------------------------------------------------

def tied_sequential():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 6))
    model[2].weight = model[0].weight
    return model


def fallback_models():
    torch.manual_seed(0)
    lstm = LSTMClassifier()
    return {
        "tied": (tied_sequential(), (6,), "cross_entropy"),
        "old_weight_norm": (nn.Sequential(torch.nn.utils.weight_norm(nn.Linear(6, 8)), nn.ReLU(), nn.Linear(8, 3)),
                            (6,), "cross_entropy"),
        "weight_norm": (nn.Sequential(nn.utils.parametrizations.weight_norm(nn.Linear(6, 8)), nn.ReLU(),
                                      nn.Linear(8, 3)), (6,), "cross_entropy"),
        "spectral_norm": (nn.Sequential(nn.utils.parametrizations.spectral_norm(nn.Linear(6, 8)), nn.ReLU(),
                                        nn.Linear(8, 3)), (6,), "cross_entropy"),
        "per_token_mlp": (nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)), (5, 6), "mse"),
        "per_token_flatten": (nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Flatten(), nn.Linear(40, 3)), (5, 6),
                              "cross_entropy"),
        "lstm": (lstm, (5, 6), "cross_entropy"),
    }


class LSTMClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(6, 8, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.lstm(x)[0][:, -1])


@pytest.mark.parametrize("case", ["tied", "old_weight_norm", "weight_norm", "spectral_norm", "per_token_mlp",
                                  "per_token_flatten", "lstm"])
def test_crashes_become_the_right_numbers(case):
    model, shape, criterion = fallback_models()[case]
    model.eval()
    x, y = data(shape, n=30)
    if criterion == "mse":
        y = torch.randn(30, 5, 3)
    obj = ls.Supervised(model, x, y, criterion=criterion)
    assert obj.bytes_per_point() > 0
    auto, loop = plane(obj, model), plane(obj, model, "loop")
    assert_same(auto, loop)
    # the fast path refuses ties, hooks and parametrizations; torch has no vmap rule for LSTM
    assert auto.metadata["method"] == {"per_token_mlp": "fast", "per_token_flatten": "fast", "lstm": "loop"}.get(case, "vmap")
    if case == "lstm":
        with pytest.raises(RuntimeError):
            plane(obj, model, "vmap")
    else:
        assert_same(plane(obj, model, "vmap"), loop)
    for m in model.modules():                     # no functorch BatchedTensor left on the model
        for v in vars(m).values():
            if isinstance(v, torch.Tensor):
                assert not torch._C._functorch.is_batchedtensor(v)
    assert_same(plane(obj, model, "loop"), loop)  # the model still works the ordinary way


def test_trajectory_of_a_model_vmap_cannot_run_falls_back():
    model = LSTMClassifier().eval()
    x, y = data((5, 6), n=30)
    obj = ls.Supervised(model, x, y)
    center = ls.parameters_of(model)
    dirs = ls.random_directions(model, 2, seed=0)
    pts = [{k: v + 0.2 * i * dirs[0][k] for k, v in center.items()} for i in range(3)]
    with pytest.warns(RuntimeWarning, match="one at a time"):
        tr = ls.trajectory(obj, center, dirs, pts)
    want = [obj.of_model(ls.load_params(model, p))["loss"] for p in pts]
    np.testing.assert_allclose(tr.values["loss"], want, rtol=1e-5)


def test_per_token_mlp_takes_the_exact_fast_path():
    model, shape, _ = fallback_models()["per_token_mlp"]
    x = torch.randn(30, *shape)
    obj = ls.Supervised(model, x, torch.randn(30, 5, 3), criterion="mse")
    fast, loop = plane(obj, model, "fast"), plane(obj, model, "loop")
    assert_same(fast, loop)


def test_auto_falls_back_from_vmap_to_the_loop_and_says_so():
    class ItemModel(nn.Module):                   # data-dependent Python control flow: vmap cannot run it
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(6, 3)

        def forward(self, x):
            out = self.lin(x)
            return out * 2 if out.sum().item() > 0 else out

    torch.manual_seed(0)
    model = ItemModel()
    x, y = data((6,), n=20)
    obj = ls.Supervised(model, x, y)
    dirs = ls.random_directions(model, 2, seed=0)
    with pytest.warns(RuntimeWarning, match="vmap failed"):
        res = ls.loss_plane(obj, model, dirs, GRID, GRID)
    assert res.metadata["method"] == "loop"
    assert_same(res, ls.loss_plane(obj, model, dirs, GRID, GRID, method="loop"))
    with pytest.raises(Exception):
        ls.loss_plane(obj, model, dirs, GRID, GRID, method="vmap")


# ---- the model is never modified ----------------------------------------------------------------

def bn_dropout_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5), nn.Flatten(),
                          nn.Linear(64, 3)).train()
    model[3].eval()                               # one submodule in another mode than its parent
    x, y = data((1, 6, 6), n=40)
    nn.functional.cross_entropy(model(x), y).backward()
    return model, x, y


def snapshot_of(model):
    return ({k: v.clone() for k, v in model.state_dict().items()}, [m.training for m in model.modules()],
            [None if p.grad is None else p.grad.clone() for p in model.parameters()])


def assert_untouched(model, snap):
    state, modes, grads = snap
    now = model.state_dict()
    assert all(torch.equal(state[k], now[k]) for k in state), "state_dict changed"
    assert [m.training for m in model.modules()] == modes, "training flags changed"
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, model.parameters())), ".grad changed"


def entry_points(model, x, y):
    obj = ls.Supervised(model, x, y)
    other, _, _ = bn_dropout_model()
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(0.5)
    dirs = ls.random_directions(model, 2, seed=0)
    center = ls.parameters_of(model)
    pts = [{k: v + 0.1 * i * dirs[0][k] for k, v in center.items()} for i in range(4)]
    return {
        "bytes_per_point": lambda: obj.bytes_per_point(),
        "applies": lambda: fastpath.applies(obj),
        "objective_call": lambda: obj(center),
        "of_model": lambda: obj.of_model(model),
        "loss_line": lambda: ls.loss_line(obj, model, dirs[0], GRID),
        **{f"loss_plane_{m}": (lambda m=m: ls.loss_plane(obj, model, dirs, GRID, GRID, method=m))
           for m in ("auto", "fast", "vmap", "loop")},
        "evaluate_points": lambda: ls.evaluate_points(obj, model, dirs, [[0.1, 0.2]]),
        "interpolation": lambda: ls.interpolation(obj, model, other, alphas=[0, 1]),
        "interpolation_buffers": lambda: ls.interpolation(obj, model, other, alphas=[0, 1],
                                                          interpolate_buffers=True),
        "trajectory": lambda: ls.trajectory(obj, center, dirs, pts),
        "plane_covering": lambda: ls.plane_covering(obj, center, dirs, [ls.trajectory(obj, center, dirs, pts)], 3),
        "random_directions": lambda: ls.random_directions(model, 2, seed=1),
        "pca_directions": lambda: ls.pca_directions(pts, center),
    }


@pytest.mark.parametrize("name", list(entry_points(*bn_dropout_model())))
def test_no_public_entry_point_modifies_the_model(name):
    model, x, y = bn_dropout_model()
    snap = snapshot_of(model)
    entry_points(model, x, y)[name]()
    assert_untouched(model, snap)


@pytest.mark.parametrize("method", ["auto", "fast", "vmap", "loop"])
def test_model_untouched_after_an_exception(method):
    model, x, y = bn_dropout_model()
    snap = snapshot_of(model)
    obj = ls.Supervised(model, x, torch.full_like(y, 99))            # an invalid class label
    with warnings.catch_warnings(), pytest.raises((IndexError, RuntimeError, ValueError)):
        warnings.simplefilter("ignore")
        ls.loss_plane(obj, model, ls.random_directions(model, 2), GRID, GRID, method=method)
    assert_untouched(model, snap)
    with pytest.raises((IndexError, RuntimeError, ValueError)):
        ls.trajectory(obj, model, ls.random_directions(model, 2), [ls.parameters_of(model)] * 3)
    assert_untouched(model, snap)


def test_interpolation_can_interpolate_batchnorm_buffers():
    a, x, y = bn_dropout_model()
    b, _, _ = bn_dropout_model()
    a.eval()
    b.train()
    with torch.no_grad():
        for p in b.parameters():
            p.add_(0.3 * torch.randn_like(p))
        for _ in range(3):
            b(x * 2 + 1)                          # b's running statistics differ from a's
    b.eval()
    obj = ls.Supervised(a, x, y)
    plain = ls.interpolation(obj, a, b, alphas=[0.0, 1.0])
    both = ls.interpolation(obj, a, b, alphas=[0.0, 1.0], interpolate_buffers=True)
    assert both.values["loss"][0] == pytest.approx(obj.of_model(a)["loss"], rel=1e-5)
    assert both.values["loss"][1] == pytest.approx(obj.of_model(b)["loss"], rel=1e-5)
    assert abs(plain.values["loss"][1] - obj.of_model(b)["loss"]) > 1e-3     # parameters only: a's buffers
    assert "buffers" in ls.interpolation.__doc__ and "buffers" in ls.trajectory.__doc__


# ---- clear errors -----------------------------------------------------------------------------

def small():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 3))
    x, y = data((12,))
    return model, ls.Supervised(model, x, y), ls.random_directions(model, 2, seed=0)


def test_empty_data_is_a_clear_error():
    model, _, _ = small()
    with pytest.raises(ValueError, match="no examples"):
        ls.Supervised(model, torch.zeros(0, 12), torch.zeros(0, dtype=torch.long))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_refused_up_front(dtype):
    model, _, _ = small()
    model = model.to(dtype)
    x, y = data((12,))
    obj = ls.Supervised(model, x.to(dtype), y)
    dirs = ls.random_directions(model, 2)
    for method in ("auto", "vmap", "loop"):
        with pytest.raises(ValueError, match=r"float32 or float64.*model.float\(\)"):
            ls.loss_plane(obj, model, dirs, GRID, GRID, method=method)


def test_numpy_directions_from_a_loaded_result_are_accepted(tmp_path):
    model, obj, dirs = small()
    res = ls.loss_plane(obj, model, dirs, GRID, GRID)
    res.save(tmp_path / "s.npz")
    back = ls.SurfaceResult.load(tmp_path / "s.npz")
    again = ls.loss_plane(obj, back.center, back.directions, back.alphas, back.betas)
    np.testing.assert_allclose(again.values["loss"], res.values["loss"], rtol=1e-6)
    line = ls.loss_line(obj, back.center, back.directions[0], back.alphas)
    assert line.values["loss"].shape == (4,)


def test_wrong_container_types_are_clear_errors():
    model, obj, dirs = small()
    with pytest.raises(ValueError, match="loss_line takes one direction"):
        ls.loss_line(obj, model, dirs, GRID)
    with pytest.raises(ValueError, match="loss_plane takes a list of two directions"):
        ls.loss_plane(obj, model, dirs[0], GRID, GRID)


def test_float64_directions_on_a_float32_model_are_a_clear_error():
    model, obj, dirs = small()
    d64 = [{k: v.double() for k, v in d.items()} for d in dirs]
    with pytest.raises(ValueError, match="float64 for parameter .* model is torch.float32"):
        ls.loss_plane(obj, model, d64, GRID, GRID)


def test_nan_coefficients_are_a_clear_error():
    model, obj, dirs = small()
    with pytest.raises(ValueError, match="NaN or infinite"):
        ls.evaluate_points(obj, model, dirs, [[0.0, np.nan]])


@pytest.mark.parametrize("kw", [{"n": 0}, {"n": -1}, {"n": 1.5}, {"seed": 1.5}, {"seed": "0"}])
def test_bad_direction_count_or_seed_is_a_clear_error(kw):
    model, _, _ = small()
    with pytest.raises(ValueError, match="n must|seed must"):
        ls.random_directions(model, **kw)


def test_float64_model_stays_float64_end_to_end():
    model, _, _ = small()
    model = model.double()
    x, y = data((12,))
    x = x.double()
    obj = ls.Supervised(model, x, y)
    d = ls.random_directions(model, 1, seed=0)[0]
    a = [1 / 3, -0.7]
    center = ls.parameters_of(model)
    truth = [float(nn.functional.cross_entropy(ls.load_params(model, {k: center[k] + t * d[k] for k in center})(x), y))
             for t in a]
    for method in ("auto", "fast", "vmap", "loop"):
        res = ls.loss_line(obj, model, d, a, method=method)
        np.testing.assert_allclose(res.values["loss"], truth, rtol=1e-12, err_msg=method)
        assert res.directions[0]["0.weight"].dtype == np.float64


# ---- SurfaceResult files ----------------------------------------------------------------------

def test_metadata_is_converted_or_refused_when_the_call_starts(tmp_path):
    model, obj, dirs = small()
    meta = {"seed": np.int64(3), "lr": np.float32(0.5), "t": torch.tensor(2.5), "path": tmp_path / "a",
            "nested": {"k": [np.int32(1), (2, 3)]}}
    res = ls.loss_plane(obj, model, dirs, GRID, GRID, metadata=meta)
    res.save(tmp_path / "m.npz")
    back = ls.SurfaceResult.load(tmp_path / "m.npz")
    assert back.metadata["seed"] == 3 and back.metadata["t"] == 2.5 and back.metadata["path"] == str(tmp_path / "a")
    assert back.metadata["nested"] == {"k": [1, [2, 3]]}
    called = []
    spy = ls.FunctionObjective(model, lambda o, p: called.append(1) or {"loss": p["0.weight"].sum()})
    with pytest.raises(ValueError, match="metadata"):
        ls.loss_plane(spy, model, dirs, GRID, GRID, metadata={"model": model})
    assert not called                             # refused before any computation


def test_save_then_load_round_trips_a_path_without_suffix(tmp_path, monkeypatch):
    model, obj, dirs = small()
    res = ls.loss_plane(obj, model, dirs, GRID, GRID)
    monkeypatch.chdir(tmp_path)
    res.save("x")
    back = ls.SurfaceResult.load("x")
    np.testing.assert_array_equal(back.values["loss"], res.values["loss"])
    assert back.metadata == res.metadata


def test_files_that_are_not_surfaces_are_named_in_the_error(tmp_path):
    model, obj, dirs = small()
    good = tmp_path / "good.npz"
    ls.loss_plane(obj, model, dirs, GRID, GRID).save(good)
    raw = good.read_bytes()
    files = {"truncated.npz": raw[: len(raw) // 2], "empty.npz": b"",
             "random.npz": np.random.default_rng(0).bytes(500)}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    np.savez(tmp_path / "other.npz", a=np.arange(3))
    bad_json = tmp_path / "badjson.npz"
    np.savez(bad_json, axis0=np.arange(3.0), metadata=np.array("{not json"))
    for name in list(files) + ["other.npz", "badjson.npz"]:
        with pytest.raises(ValueError, match=rf"{name} is not a lossurf surface"):
            ls.SurfaceResult.load(tmp_path / name)


# ---- shards -----------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["fast", "vmap", "loop"])
def test_shards_merge_into_the_whole_result(method):
    model, obj, dirs = small()
    a, b = np.linspace(-1, 1, 7), np.linspace(-2, 2, 5)
    whole = ls.loss_plane(obj, model, dirs, a, b, method=method, metadata={"seed": 0})
    parts = [ls.loss_plane(obj, model, dirs, a, b, method=method, metadata={"seed": 0}, shard=(k, 3))
             for k in (2, 0, 1)]
    assert [p.values["loss"].shape[0] for p in parts] == [2, 2, 3]
    merged = ls.merge_shards(parts)
    for k in whole.values:
        np.testing.assert_array_equal(merged.values[k], whole.values[k])
    assert all(np.array_equal(x, y) for x, y in zip(merged.axes, whole.axes))
    assert merged.metadata == whole.metadata
    rows = ls.loss_plane(obj, model, dirs, a, b, method=method, rows=(3, 7))
    np.testing.assert_array_equal(rows.values["loss"], whole.values["loss"][3:])
    with pytest.raises(ValueError, match="missing"):
        ls.merge_shards(parts[1:2] + parts[2:])
    line = ls.merge_shards([ls.loss_line(obj, model, dirs[0], a, method=method, shard=(k, 2)) for k in (0, 1)])
    np.testing.assert_array_equal(line.values["loss"], ls.loss_line(obj, model, dirs[0], a, method=method).values["loss"])


def test_bad_shards_are_clear_errors():
    model, obj, dirs = small()
    for shard in [(3, 3), (0, 0), ("a", 2)]:
        with pytest.raises(ValueError, match="shard"):
            ls.loss_plane(obj, model, dirs, GRID, GRID, shard=shard)


# ---- speed rules and module layout --------------------------------------------------------------

def test_auto_picks_the_loop_for_large_points_on_a_cpu():
    model, obj, dirs = small()
    few = ls.loss_line(obj, model, dirs[0], np.linspace(-1, 1, surface.MIN_FAST_POINTS - 1))
    many = ls.loss_line(obj, model, dirs[0], np.linspace(-1, 1, surface.MIN_FAST_POINTS))
    assert few.metadata["method"] == "vmap" and many.metadata["method"] == "fast"     # fixed costs pay off
    center = ls.parameters_of(model)
    assert surface._generic_choice(obj, center) == "vmap"
    big = ls.Supervised(model, torch.randn(200_000, 12), torch.randint(0, 3, (200_000,)))
    assert big.bytes_per_point() > surface.CPU_VMAP_MAX_BYTES
    assert surface._generic_choice(big, center) == "loop"


def test_the_package_has_no_import_cycles():
    """Module-level imports inside lossurf form no cycle (a cycle breaks a plain ``import`` of one side), and
    go only downwards: the core imports no lesson code or plots, plots no lesson code, and the MNIST and RL
    lesson code not each other."""
    root = pathlib.Path(ls.__file__).parent
    mods = {".".join(p.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__"): p
            for p in root.rglob("*.py")}
    graph = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps = set()
        for node in ast.parse(path.read_text()).body:                  # module level only
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
                deps |= {f"{target}.{a.name}" if f"{target}.{a.name}" in mods else target for a in node.names}
        graph[name] = deps & set(mods) - {name}
    state = {}

    def visit(n, path):
        state[n] = "open"
        for m in sorted(graph[n]):
            assert state.get(m) != "open", "import cycle: " + " -> ".join(path + [m])
            if m not in state:
                visit(m, path + [m])
        state[n] = "done"

    for n in sorted(graph):
        if n not in state:
            visit(n, [n])
    assert "lossurf.rl.td" in graph["lossurf.rl.trainer"]          # the graph was read

    def part(name):
        sub = name.split(".")[1] if name.count(".") else ""
        return sub if sub in ("mnist", "rl", "plots", "toy") else "core"
    allowed = {"core": {"core"}, "plots": {"core", "plots"}, "mnist": {"core", "plots", "mnist"},
               "rl": {"core", "plots", "rl"}, "toy": {"core", "plots", "toy"}}     # imports only go downwards
    for name, deps in graph.items():
        if name != "lossurf":
            wrong = sorted(d for d in deps if part(d) not in allowed[part(name)])
            assert not wrong, f"{name} ({part(name)}) imports {wrong}"


@pytest.mark.parametrize("tail", ["loop", "vmap"])
def test_cnn_fast_path_with_folded_batchnorm_and_pooling_equals_the_loop(tail):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(6 * 2 * 2, 3))
    x, y = data((1, 8, 8), n=50)
    model.train()
    with torch.no_grad():
        model(x * 1.5 + 0.3)                      # running statistics away from the defaults
    model.eval()
    obj = ls.Supervised(model, x, y)
    dirs = ls.random_directions(model, 2, seed=2, ignore_1d=False)       # BatchNorm weights move too
    coefs = torch.tensor(np.random.default_rng(0).uniform(-1.5, 1.5, (9, 2)), dtype=torch.float32)
    ref = ls.evaluate_points(obj, model, dirs, coefs.numpy(), method="loop")
    out = fastpath.evaluate(obj, ls.parameters_of(model), dirs, coefs, tail=tail, point_tile=4, row_tile=16)
    for k in ref:
        np.testing.assert_allclose(out[k], ref[k], rtol=1e-5, atol=1e-6)
    assert ref["loss"].std() > 0.01
