"""Test settings shared by the unit tests and the nbval notebook runs."""
import os

# Kernels started by nbval inherit this: no progress bars (rates, timings) in compared outputs.
os.environ["LOSSURF_PROGRESS"] = "0"
