"""MNIST from the copy shipped in ``data/mnist/`` (offline), loaded through torchvision."""
from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import torch

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_DIR = PROJECT_ROOT / "data" / "mnist"
CACHE_DIR = PROJECT_ROOT / "data" / "cache"

# md5 of the decompressed official files (same as torchvision's own list of resources)
MNIST_FILES = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
# pixel mean and std of the MNIST training set, the usual normalisation
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081

RESTORE_HINT = ("restore it with `git checkout -- data/mnist/` (the project ships the four gzipped idx "
                "files there; see data/README.md)")


class MNISTDataError(FileNotFoundError):
    """A shipped MNIST file is missing or corrupt."""


def prepare_mnist(shipped_dir: str | os.PathLike | None = None,
                  cache_dir: str | os.PathLike | None = None) -> Path:
    """Decompress the shipped files to ``<cache>/MNIST/raw/`` (once), check md5s; return the root.

    The returned root is what ``torchvision.datasets.MNIST(root, download=False)`` expects.
    Never touches the network.
    """
    from torchvision.datasets.utils import check_integrity    # here: importing torchvision takes 2 s

    shipped = Path(shipped_dir or os.environ.get("LOSSURF_MNIST_DIR", SHIPPED_DIR))
    root = Path(cache_dir or os.environ.get("LOSSURF_CACHE_DIR", CACHE_DIR))
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name, md5 in MNIST_FILES.items():
        target = raw / name
        if check_integrity(str(target), md5):
            continue
        source = shipped / f"{name}.gz"
        if not source.is_file():
            raise MNISTDataError(f"MNIST file {source} is missing; {RESTORE_HINT}.")
        tmp = target.with_suffix(".part")
        try:
            with gzip.open(source, "rb") as fin, open(tmp, "wb") as fout:
                shutil.copyfileobj(fin, fout)
        except (OSError, EOFError) as err:
            tmp.unlink(missing_ok=True)
            raise MNISTDataError(f"MNIST file {source} is corrupt ({err}); {RESTORE_HINT}.") from err
        if not check_integrity(str(tmp), md5):
            tmp.unlink(missing_ok=True)
            raise MNISTDataError(f"MNIST file {source} decompresses to the wrong md5 "
                                 f"(expected {md5}); {RESTORE_HINT}.")
        tmp.replace(target)
    return root


def load_mnist(train: bool = True, **paths):
    """The MNIST train or test set as a ``torchvision.datasets.MNIST`` (uint8 images, int labels)."""
    from torchvision.datasets import MNIST

    return MNIST(str(prepare_mnist(**paths)), train=train, download=False)


def balanced_subset(labels, per_class: int, seed: int, num_classes: int = 10) -> torch.Tensor:
    """Indices of ``per_class`` examples of every class, drawn with ``seed``, in shuffled order."""
    labels = torch.as_tensor(labels)
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    g = torch.Generator().manual_seed(int(seed))
    picks = []
    for c in range(num_classes):
        idx = torch.nonzero(labels == c).flatten()
        if len(idx) < per_class:
            raise ValueError(f"class {c} has only {len(idx)} examples, fewer than per_class={per_class}")
        picks.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    picks = torch.cat(picks)
    return picks[torch.randperm(len(picks), generator=g)]


def mnist_tensors(train: bool = True, per_class: int | None = None, seed: int = 0,
                  flatten: bool = True, device=None, **paths) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST as ``(x, y)`` tensors ready for batched evaluation: float32 normalised pixels, int64 labels.

    ``per_class`` takes a seeded class-balanced subset; ``flatten`` gives ``(N, 784)`` rather than
    ``(N, 1, 28, 28)``.
    """
    ds = load_mnist(train, **paths)
    images, labels = ds.data, ds.targets
    if per_class is not None:
        idx = balanced_subset(labels, per_class, seed)
        images, labels = images[idx], labels[idx]
    x = (images.float() / 255.0 - MNIST_MEAN) / MNIST_STD
    x = x.reshape(len(x), -1) if flatten else x.unsqueeze(1)
    return x.to(device), labels.long().to(device)


def label_counts(labels) -> np.ndarray:
    """How many examples of each digit 0-9."""
    return np.bincount(np.asarray(labels), minlength=10)
