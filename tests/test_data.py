import gzip
import shutil

import pytest
import torch

from lossurf.mnist.data import MNISTDataError, balanced_subset, label_counts, load_mnist, mnist_tensors, prepare_mnist, SHIPPED_DIR

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_full_sets_shapes_dtypes_and_label_counts():
    train, test = load_mnist(True), load_mnist(False)
    assert tuple(train.data.shape) == (60000, 28, 28) and train.data.dtype == torch.uint8
    assert tuple(test.data.shape) == (10000, 28, 28)
    assert label_counts(train.targets).tolist() == TRAIN_COUNTS
    assert label_counts(test.targets).tolist() == TEST_COUNTS


def test_tensors_are_normalised_float_and_flattened():
    x, y = mnist_tensors(False, per_class=5, seed=0)
    assert x.shape == (50, 784) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert -0.5 < float(x.min()) < -0.4 and float(x.max()) > 2.5       # (0 - mean)/std, (1 - mean)/std
    x4, _ = mnist_tensors(False, per_class=5, seed=0, flatten=False)
    assert x4.shape == (50, 1, 28, 28) and torch.equal(x4.reshape(50, -1), x)


def test_subset_is_balanced_and_seeded():
    labels = load_mnist(False).targets
    a, b, c = (balanced_subset(labels, 30, s) for s in (1, 1, 2))
    assert label_counts(labels[a]).tolist() == [30] * 10
    assert len(set(a.tolist())) == 300
    assert torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ValueError, match="fewer than per_class"):
        balanced_subset(labels, 2000, 0)


def test_missing_file_names_it_and_says_how_to_restore(tmp_path):
    shipped = tmp_path / "shipped"
    shutil.copytree(SHIPPED_DIR, shipped)
    (shipped / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(MNISTDataError, match=r"t10k-labels-idx1-ubyte\.gz is missing.*git checkout"):
        prepare_mnist(shipped, tmp_path / "cache")


def test_corrupt_file_is_detected(tmp_path):
    shipped = tmp_path / "shipped"
    shutil.copytree(SHIPPED_DIR, shipped)
    with gzip.open(shipped / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(b"not mnist")
    with pytest.raises(MNISTDataError, match="wrong md5"):
        prepare_mnist(shipped, tmp_path / "cache")
    (shipped / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(MNISTDataError, match="corrupt"):
        prepare_mnist(shipped, tmp_path / "cache")
