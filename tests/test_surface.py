import numpy as np
import pytest
import torch
import torch.nn as nn

import lossurf as ls
from lossurf import fastpath
from lossurf.directions import flatten


def mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 8), nn.Tanh(),
                         nn.Linear(8, 3))


def mlp_with_bn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(12, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))


def cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 4 * 4, 3))


def warm_bn(model, x):
    """A few train-mode passes so BatchNorm running statistics are not the defaults."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x + torch.randn_like(x))
    return model.eval()


def data(shape, n=50, seed=1, classes=3):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *shape, generator=g), torch.randint(0, classes, (n,), generator=g)


def ten_classes(hidden, n):
    """A one-hidden-layer MLP with ten outputs (like MNIST's) on n examples: model, objective, plane."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, hidden), nn.ReLU(), nn.Linear(hidden, 10))
    x, y = data((3, 4), n=n, classes=10)
    return model, ls.Supervised(model, x, y), ls.random_directions(model, 2, seed=0)


CASES = {
    "mlp": (mlp, (3, 4)),
    "mlp_bn": (mlp_with_bn, (12,)),
    "cnn_bn": (cnn, (1, 6, 6)),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("method", ["vmap", "fast"])
def test_batched_equals_loop(case, method):
    make, shape = CASES[case]
    x, y = data(shape)
    model = warm_bn(make(), x)
    obj = ls.Supervised(model, x, y)
    dirs = ls.random_directions(model, 2, seed=3)
    grid = np.linspace(-1.5, 1.5, 5)
    loop = ls.loss_plane(obj, model, dirs, grid, grid, method="loop")
    fast = ls.loss_plane(obj, model, dirs, grid, grid, method=method, chunk_size=7) if method == "vmap" \
        else ls.loss_plane(obj, model, dirs, grid, grid, method=method)
    for metric in ("loss", "accuracy"):
        np.testing.assert_allclose(fast.values[metric], loop.values[metric], rtol=1e-5, atol=1e-6)
    assert loop.values["loss"].std() > 0.01          # the plane is not flat: the test can fail


def test_fast_path_choice_and_tiles():
    x, y = data((3, 4), n=37)
    model = mlp()
    obj = ls.Supervised(model, x, y)
    assert fastpath.applies(obj) and fastpath.is_mlp_tail(fastpath.split_first_layer(model)[3])
    assert not fastpath.is_mlp_tail(fastpath.split_first_layer(mlp_with_bn())[3])
    assert not fastpath.applies(ls.FunctionObjective(model, lambda o, p: p["1.weight"].sum()))
    dirs = ls.random_directions(model, 2, seed=0)
    coefs = torch.tensor(np.random.default_rng(0).uniform(-1, 1, (11, 2)), dtype=torch.float32)
    ref = ls.evaluate_points(obj, model, dirs, coefs.numpy(), method="loop")
    center = ls.parameters_of(model)
    for pt, rt in [(1, 5), (4, 16), (64, 1000)]:            # ragged tiles over points and rows
        out = fastpath.evaluate(obj, center, dirs, coefs, point_tile=pt, row_tile=rt)
        np.testing.assert_allclose(out["loss"], ref["loss"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out["accuracy"], ref["accuracy"], atol=1e-9)


def test_mlp_kernel_shards_merge_bit_for_bit_with_a_lone_point_and_many_row_tiles():
    """A point's numbers must not depend on the points sharing its tile: the whole grid ends in a
    tile of one point (a batched matrix product of one matrix takes another kernel), its shards do
    not, and 1,100 rows make several row sub-tiles with padding."""
    model, obj, dirs = ten_classes(hidden=128, n=1100)
    # 32 points and the centre (evaluated first, for the exactness check): tiles of 32 and 1
    a, b = np.linspace(-1, 1, 8), np.linspace(-1, 1, 4)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)               # with two threads, a one-matrix product splits differently
    try:
        whole = ls.loss_plane(obj, model, dirs, a, b, method="fast")
        parts = [ls.loss_plane(obj, model, dirs, a, b, method="fast", shard=(k, 3)) for k in range(3)]
    finally:
        torch.set_num_threads(threads)
    merged = ls.merge_shards(parts)
    for k in whole.values:
        np.testing.assert_array_equal(merged.values[k], whole.values[k])
    loop = ls.loss_plane(obj, model, dirs, a, b, method="loop")
    np.testing.assert_allclose(whole.values["loss"], loop.values["loss"], rtol=1e-5, atol=1e-6)


def test_mlp_kernel_far_from_the_centre_equals_the_loop():
    """Far out, logits differ by hundreds: the kernel clamps exp's argument at -80 (a subnormal exp
    is 10-40x slower on a CPU); the loss must still be the loop's."""
    model, obj, dirs = ten_classes(hidden=32, n=300)
    axis = np.linspace(-40, 40, 5)
    fast = ls.loss_plane(obj, model, dirs, axis, axis, method="fast")
    loop = ls.loss_plane(obj, model, dirs, axis, axis, method="loop")
    center = ls.parameters_of(model)
    far = {k: center[k] + 40 * dirs[0][k] + 40 * dirs[1][k] for k in center}
    with torch.no_grad():
        logits = ls.load_params(model, far)(obj.x)
    assert (logits.max(1).values - logits.min(1).values).max() > 200      # exp(z - top) underflows
    for metric in ("loss", "accuracy"):
        np.testing.assert_allclose(fast.values[metric], loop.values[metric], rtol=1e-5, atol=1e-6)


def test_mse_objective_fast_equals_loop():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.Sigmoid(), nn.Linear(8, 2))
    x, y = torch.randn(30, 5), torch.randn(30, 2)
    obj = ls.Supervised(model, x, y, criterion="mse")
    dirs = ls.random_directions(model, 1, seed=0)
    a = np.linspace(-2, 2, 9)
    ref = ls.loss_line(obj, model, dirs[0], a, method="loop")
    for method in ("vmap", "fast"):
        np.testing.assert_allclose(ls.loss_line(obj, model, dirs[0], a, method=method).values["loss"],
                                   ref.values["loss"], rtol=1e-5)


@pytest.mark.parametrize("method", ["vmap", "fast", "loop"])
def test_centre_equals_plain_loss_and_model_untouched(method):
    x, y = data((3, 4))
    model = mlp().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    obj = ls.Supervised(model, x, y)
    res = ls.loss_plane(obj, model, ls.random_directions(model, 2, seed=0), np.linspace(-1, 1, 5),
                        np.linspace(-1, 1, 5), method=method)
    plain = torch.nn.functional.cross_entropy(model.eval()(x), y).item()
    assert res.at_center() == pytest.approx(plain, rel=1e-5)
    model.train()
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model.training                                  # train/eval mode restored


def test_filter_normalisation_and_seeds():
    model = cnn()
    params = ls.parameters_of(model)
    d1, d2 = ls.random_directions(model, 2, seed=5)
    for name, w in params.items():
        if w.dim() <= 1:
            assert torch.count_nonzero(d1[name]) == 0
        else:
            np.testing.assert_allclose(d1[name].reshape(len(w), -1).norm(dim=1),
                                       w.reshape(len(w), -1).norm(dim=1), rtol=1e-5)
    again = ls.random_directions(model, 2, seed=5)
    other = ls.random_directions(model, 2, seed=6)
    assert all(torch.equal(d1[k], again[0][k]) and torch.equal(d2[k], again[1][k]) for k in d1)
    assert not torch.equal(flatten(d1), flatten(other[0]))
    assert not torch.equal(flatten(d1), flatten(d2))
    with_bias = ls.random_directions(model, 1, seed=5, ignore_1d=False)[0]
    assert torch.count_nonzero(with_bias["0.bias"]) > 0
    np.testing.assert_allclose(with_bias["0.bias"].norm(), params["0.bias"].norm(), rtol=1e-5)
    layer = ls.random_directions(model, 1, seed=5, normalization="layer")[0]
    np.testing.assert_allclose(layer["4.weight"].norm(), params["4.weight"].norm(), rtol=1e-5)


def test_orthogonal_option():
    model = mlp()
    d1, d2 = ls.random_directions(model, 2, seed=0, orthogonal=True)
    assert abs(ls.cosine(d1, d2)) < 1e-6
    r1, r2 = ls.random_directions(model, 2, seed=0)
    assert abs(ls.cosine(r1, r2)) > 1e-4 and abs(ls.cosine(r1, r2)) < 0.3


def test_pca_directions_orthonormal_and_final_at_origin():
    torch.manual_seed(0)
    final = ls.parameters_of(mlp())
    path = [{k: v + torch.randn_like(v) * (10 - t) * 0.1 for k, v in final.items()} for t in range(10)]
    path.append(final)
    dirs, ratio = ls.pca_directions(path, final, n=2)
    assert abs(ls.cosine(dirs[0], dirs[1])) < 1e-6
    for d in dirs:
        assert float(flatten(d).norm()) == pytest.approx(1.0, abs=1e-5)
    assert ratio.shape == (2,) and 0 < ratio[1] <= ratio[0] <= 1
    coords, off = ls.project(final, dirs, path)
    np.testing.assert_allclose(coords[-1], 0.0, atol=1e-9)
    assert off[-1] == 0.0 or np.isclose(off[-1], 0.0)


def test_projection_recovers_coordinates_on_a_plane():
    model = mlp()
    center = ls.parameters_of(model)
    dirs = ls.random_directions(model, 2, seed=1)             # not orthogonal, not unit length
    pts = [{k: center[k] + a * dirs[0][k] + b * dirs[1][k] for k in center} for a, b in [(0.3, -0.7), (1, 2)]]
    coords, off = ls.project(center, dirs, pts)
    np.testing.assert_allclose(coords, [[0.3, -0.7], [1, 2]], atol=1e-5)
    assert np.all(off < 1e-4)
    x, y = data((3, 4))
    traj = ls.trajectory(ls.Supervised(model, x, y), center, dirs, pts, label="t")
    plain = torch.nn.functional.cross_entropy(ls.load_params(model, pts[0]).eval()(x), y).item()
    assert traj.values["loss"][0] == pytest.approx(plain, rel=1e-5)


def test_interpolation_ends_are_start_and_end():
    x, y = data((3, 4))
    a, b = mlp(0), mlp(1)
    obj = ls.Supervised(a, x, y)
    res = ls.interpolation(obj, a, b, alphas=[0.0, 0.5, 1.0])
    assert res.values["loss"][0] == pytest.approx(obj.of_model(a)["loss"], rel=1e-5)
    assert res.values["loss"][2] == pytest.approx(obj.of_model(b)["loss"], rel=1e-5)


@pytest.mark.parametrize("method", ["vmap", "fast"])
def test_diverged_points_are_kept_and_counted(method):
    x, y = data((3, 4))
    model = mlp()
    obj = ls.Supervised(model, x, y)
    d = ls.random_directions(model, 1, seed=0)[0]
    big = float(np.finfo(np.float32).max) / 2                 # the activations overflow to inf
    coords = [0.0, big, 0.5, -big]
    res = ls.loss_line(obj, model, d, coords, method=method)
    loop = ls.loss_line(obj, model, d, coords, method="loop")
    assert res.values["loss"].shape == (4,) and np.isfinite(res.values["loss"][[0, 2]]).all()
    assert res.n_nonfinite() == loop.n_nonfinite() == 2


def test_nan_from_function_objective():
    lin = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        lin.weight.fill_(1.0)
    obj = ls.FunctionObjective(lin, lambda o, p: {"loss": torch.sqrt(p["weight"].sum())})
    d = {"weight": torch.ones(1, 1)}
    res = ls.loss_line(obj, lin, d, np.linspace(-3, 1, 5))      # w = -2..2: sqrt of negatives is NaN
    assert res.n_nonfinite() == 2 and np.isnan(res.values["loss"][:2]).all()


def test_save_load_round_trip(tmp_path):
    x, y = data((3, 4))
    model = mlp()
    obj = ls.Supervised(model, x, y)
    d = ls.random_directions(model, 2, seed=0)
    res = ls.loss_plane(obj, model, d, np.linspace(-1, 1, 3), np.linspace(-2, 2, 4),
                        metadata={"seed": 0, "normalization": "filter"})
    res.values["loss"][0, 0] = np.nan
    res.save(tmp_path / "s.npz")
    back = ls.SurfaceResult.load(tmp_path / "s.npz")
    assert back.metadata == res.metadata and back.metadata["data_size"] == 50
    for a, b in zip(res.axes, back.axes):
        assert np.array_equal(a, b)
    for k in res.values:
        assert np.array_equal(res.values[k], back.values[k], equal_nan=True)
    for da, db in zip(res.directions, back.directions):
        assert all(np.array_equal(da[k], db[k]) for k in da)
    assert all(np.array_equal(res.center[k], back.center[k]) for k in res.center)
    again = ls.loss_plane(obj, back.center, back.directions_torch(), back.alphas, back.betas)
    np.testing.assert_allclose(again.values["loss"][1:], res.values["loss"][1:], rtol=1e-6)


def test_bad_input_is_a_clear_error():
    x, y = data((3, 4))
    model = mlp()
    obj = ls.Supervised(model, x, y)
    wrong = ls.random_directions(mlp_with_bn(), 2, seed=0)
    with pytest.raises(ValueError, match="does not match the model"):
        ls.loss_plane(obj, model, wrong, [0, 1], [0, 1])
    d = ls.random_directions(model, 2, seed=0)
    bad_shape = [{**d[0], "1.weight": torch.zeros(3, 3)}, d[1]]
    with pytest.raises(ValueError, match=r"shape \(3, 3\) for parameter '1.weight'"):
        ls.loss_plane(obj, model, bad_shape, [0, 1], [0, 1])
    with pytest.raises(ValueError, match="at least 2 coordinates"):
        ls.loss_plane(obj, model, d, [0.0], [0, 1])
    with pytest.raises(ValueError, match="unknown normalization 'filters'"):
        ls.random_directions(model, 2, normalization="filters")
    with pytest.raises(ValueError, match="unknown method"):
        ls.loss_line(obj, model, d[0], [0, 1], method="gpu")
    with pytest.raises(ValueError, match="same number of examples"):
        ls.Supervised(model, x, y[:-1])
    with pytest.raises(ValueError, match="exactly 2 directions"):
        ls.loss_plane(obj, model, d[:1], [0, 1], [0, 1])


def test_plane_through_three_points_holds_them_exactly():
    torch.manual_seed(0)
    c, a, b = (ls.parameters_of(mlp(s)) for s in (0, 1, 2))
    dirs = ls.plane_through(c, a, b)
    assert abs(ls.cosine(dirs[0], dirs[1])) < 1e-6
    coords, off = ls.project(c, dirs, [c, a, b])
    assert np.all(off < 1e-5)
    np.testing.assert_allclose(coords[0], 0, atol=1e-6)
    assert coords[1][1] == pytest.approx(0, abs=1e-5) and coords[1][0] > 0
    with pytest.raises(ValueError, match="one line"):
        ls.plane_through(c, a, a)


def test_plane_covering_shows_every_path():
    x, y = data((3, 4))
    model = mlp()
    obj = ls.Supervised(model, x, y)
    center = ls.parameters_of(model)
    dirs = ls.random_directions(model, 2, seed=1)
    pts = [{k: center[k] + a * dirs[0][k] + b * dirs[1][k] for k in center} for a, b in [(0.3, -2.0), (1, 0.5)]]
    tr = ls.trajectory(obj, center, dirs, pts)
    res = ls.plane_covering(obj, center, dirs, [tr], points=5, margin=1.5)
    assert res.alphas[-1] == pytest.approx(3.0, rel=1e-4) and res.betas[0] == pytest.approx(-3.0, rel=1e-4)
    assert res.values["loss"].shape == (5, 5)
