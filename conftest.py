"""Test settings for every pytest run from this repository: the unit tests and the nbval notebook runs.

It sits at the root so that it applies however pytest is pointed at the notebooks (the whole repository,
``notebooks/``, or one ``.ipynb`` file): kernels started by nbval inherit this environment.
"""
import os

# no progress bars (rates, timings) in the outputs nbval compares
os.environ["LOSSURF_PROGRESS"] = "0"


def pytest_configure(config):
    """nbval opens ``--nbval-sanitize-with`` relative to the current folder: anchor it at the repository
    root, so that ``cd notebooks && pytest 01_mnist_loss_surface.ipynb`` finds it too."""
    path = getattr(config.option, "nbval_sanitize_with", None)
    if path and not os.path.isabs(path):
        config.option.nbval_sanitize_with = str(config.rootpath / path)
