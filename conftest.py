"""Test settings for every pytest run from this repository: the unit tests and the nbval notebook runs.

It sits at the root so that it applies however pytest is pointed at the notebooks (the whole repository,
``notebooks/``, or one ``.ipynb`` file): kernels started by nbval inherit this environment.
"""
import os

# no progress bars (rates, timings) in the outputs nbval compares
os.environ["LOSSURF_PROGRESS"] = "0"
