"""Progress bars for students, silence for stored notebook outputs.

A bar shows in interactive use (tqdm's notebook widget in Jupyter, text in a terminal). It is switched
off when ``LOSSURF_PROGRESS=0`` is set, as the test run and the headless series runner do, so the
outputs nbval compares never hold rates or timings.
"""
from __future__ import annotations

import os


def progress_enabled() -> bool:
    return os.environ.get("LOSSURF_PROGRESS", "1").strip().lower() not in ("0", "false", "no", "off")


def progress(iterable=None, total=None, desc=None, **kwargs):
    """``tqdm.auto.tqdm`` when progress is enabled, otherwise a silent pass-through with the same API."""
    from tqdm.auto import tqdm
    return tqdm(iterable, total=total, desc=desc, disable=not progress_enabled(), leave=False, **kwargs)
