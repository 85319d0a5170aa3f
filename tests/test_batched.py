"""train_many (R runs as one computation) against the single-run train_classifier, run by run."""
import lossurf  # noqa: F401  (first: pins the arithmetic)
import numpy as np
import pytest
import torch

from lossurf.mnist.batched import Spec, train_many
from lossurf.mnist.classifier import mlp, train_classifier
from lossurf.schedules import fitted_schedule


def _data(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 20, generator=g), torch.randint(0, 4, (n,), generator=g)


CASES = [dict(lr=0.1, momentum=0.9, clip_norm=0.5, schedule="cosine"),
         dict(lr=0.3, momentum=0.0, clip_norm=None, schedule="constant"),
         dict(lr=0.1, momentum=0.9, clip_norm=1.0, schedule="plateau"),
         dict(lr=0.2, momentum=0.5, clip_norm=0.2, schedule="step")]


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_each_run_equals_train_classifier(activation):
    x, y = _data()
    sizes = (20, 16, 12, 4)
    specs, refs = [], []
    for seed, case in enumerate(CASES):
        kw, _ = fitted_schedule(case["schedule"], 2 * 7, case["lr"])
        model = mlp(sizes, activation, seed=seed)
        specs.append(Spec(model, seed=seed + 10, schedule_kw=kw, label=str(seed), **case))
        refs.append(train_classifier(mlp(sizes, activation, seed=seed), x, y, epochs=2, batch_size=32, seed=seed + 10,
                                     schedule_kw=kw, checkpoint_every=3, metric_window=3, **case))
    runs = train_many(specs, x, y, epochs=2, batch_size=32, checkpoint_every=3, metric_window=3)
    for spec, run, ref in zip(specs, runs, refs):
        a, b = run.log.arrays(), ref.log.arrays()
        for k in ("loss", "grad_norm", "lr"):
            np.testing.assert_allclose(a[k], b[k], rtol=1e-4, atol=1e-6, err_msg=k)
        assert (a["clipped"] == b["clipped"]).all()
        assert len(run.checkpoints) == len(ref.checkpoints)
        for c1, c2 in zip(run.checkpoints, ref.checkpoints):
            for k in c2:
                torch.testing.assert_close(c1[k], c2[k], rtol=1e-4, atol=1e-5)
        for k, v in ref.model.state_dict().items():
            torch.testing.assert_close(run.model.state_dict()[k], v, rtol=1e-4, atol=1e-5)


def test_callers_model_is_not_modified():
    x, y = _data()
    model = mlp((20, 8, 4), seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train_many([Spec(model, seed=0, lr=0.5)], x, y, epochs=1, batch_size=50)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())


def test_mixed_architectures_are_refused():
    x, y = _data()
    with pytest.raises(ValueError, match="same architecture"):
        train_many([Spec(mlp((20, 8, 4), seed=0), 0, 0.1), Spec(mlp((20, 6, 4), seed=0), 0, 0.1)], x, y)
