"""Test settings for every pytest run from this repository: the unit tests and the notebook runs.

It sits at the root so that it applies however pytest is pointed at the notebooks (the whole repository,
``notebooks/``, or one ``.ipynb`` file): kernels started by nbval inherit this environment.

Two modes (``lossurf/arithmetic.py`` says why):
- **strict** (the default on x86-64 with AVX2 and no GPU): the reference arithmetic is pinned before torch
  loads, and nbval compares every output of every notebook with the stored one, digit for digit.
- **lessons** (ARM, x86 without AVX2, a GPU, or ``pytest --lessons``): nothing is pinned; each notebook runs
  top to bottom on this machine's own arithmetic and is compared by what does not depend on rounding
  (``lossurf/notebook_checks.py``): output types, text with numbers masked, exact counts, verdict statuses.
"""
import os
import tempfile
import time

import pytest

# no progress bars (rates, timings) in the outputs the tests compare
os.environ["LOSSURF_PROGRESS"] = "0"

_MODE = {}


def pytest_addoption(parser):
    group = parser.getgroup("lossurf")
    group.addoption("--lessons", action="store_true",
                    help="lesson mode: run the notebooks on this machine's own arithmetic (nothing pinned) and "
                         "check what does not depend on rounding, every verdict included")
    group.addoption("--strict-digits", action="store_true",
                    help="strict mode even where the reference arithmetic cannot hold (ARM, no AVX2, a GPU): "
                         "compare every digit anyway")


def pytest_configure(config):
    """Choose the mode before torch is imported, pin (strict) or not (lessons), and hand the notebooks to
    nbval (strict) or to the lesson check (lessons). nbval opens ``--nbval-sanitize-with`` relative to the
    current folder: anchor it at the repository root, so that ``cd notebooks && pytest 01_...ipynb`` finds it."""
    path = getattr(config.option, "nbval_sanitize_with", None)
    if path and not os.path.isabs(path):
        config.option.nbval_sanitize_with = str(config.rootpath / path)
    if config.getoption("lessons") and config.getoption("strict_digits"):
        raise pytest.UsageError("--lessons and --strict-digits exclude each other: choose one mode")
    requested = "lessons" if config.getoption("lessons") else "strict" if config.getoption("strict_digits") else None
    if requested:
        os.environ["LOSSURF_ARITHMETIC"] = "native" if requested == "lessons" else "strict"
    environ = dict(os.environ)                      # as the user set it, before the pins
    from lossurf import arithmetic                  # pins now, before torch loads (lossurf/__init__.py)
    import torch

    before = {k: environ.get(k) for k in arithmetic.PINS}

    mode = arithmetic.current()
    if mode.name == "strict" and requested != "strict" and torch.cuda.is_available():
        arithmetic.restore(before)                  # the notebooks' kernels run on the GPU: nothing to pin
        mode = arithmetic.Mode("lessons", "a GPU runs the notebooks: its kernels round differently from the "
                                          "CPU reference", {})
    os.environ["LOSSURF_ARITHMETIC"] = "native" if mode.name == "lessons" else "strict"
    _MODE.update(mode=mode, overridden=arithmetic.overridden(before, mode) if mode.pins else [],
                 capability=torch.backends.cpu.get_cpu_capability())
    if mode.name == "lessons":
        config.option.nbval = False                 # the notebooks go to LessonNotebook below instead
        config.option.nbval_lax = False


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    """Say which mode runs and why, at the top of every run (also under ``-q``, which hides pytest's own header)."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and _MODE:
        for line in mode_lines():
            reporter.write_line(line)


def mode_lines() -> list[str]:
    mode = _MODE["mode"]
    if mode.name == "strict":
        pins = ", ".join(f"{k}={v}" for k, v in mode.pins.items())
        lines = [f"lossurf: STRICT mode - {mode.reason}; every notebook output compared digit for digit",
                 f"lossurf: pinned {pins}; torch runs its {_MODE['capability']} kernels"]
        if _MODE["overridden"]:
            lines.append(f"lossurf: replaced your {', '.join(_MODE['overridden'])} (pytest --lessons keeps them)")
        return lines
    return [f"lossurf: LESSON mode - {mode.reason}; torch runs its {_MODE['capability']} kernels",
            "lossurf: notebooks run top to bottom and are compared by output types, text with numbers masked, "
            "exact counts and verdict statuses (strict digit comparison needs x86-64 with AVX2 and no GPU)"]


def pytest_ignore_collect(collection_path, config):
    """The Korean notebooks (``notebooks/ko/``) hold the English notebooks' code cells and outputs, copied:
    running them would run every lesson twice. ``tests/test_korean_edition.py`` checks they are the copies."""
    if collection_path.name == "ko" and collection_path.parent.name == "notebooks":
        return True
    return None


def pytest_collect_file(parent, file_path):
    if _MODE.get("mode") is not None and _MODE["mode"].name == "lessons" and file_path.suffix == ".ipynb":
        return LessonNotebook.from_parent(parent, path=file_path)
    return None


class LessonNotebook(pytest.File):
    def collect(self):
        yield LessonRun.from_parent(self, name="lessons")


class LessonFailure(Exception):
    pass


class LessonRun(pytest.Item):
    """Execute the notebook on this machine's arithmetic, then compare it with the committed one."""

    def runtest(self):
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError
        from lossurf.notebook_checks import compare
        from lossurf.report import notebook_verdicts

        committed = nbformat.read(self.path, as_version=4)
        rerun = nbformat.read(self.path, as_version=4)
        t = time.perf_counter()
        with tempfile.TemporaryDirectory() as img_dir:
            os.environ["LOSSURF_IMG_DIR"] = img_dir    # files a notebook writes besides its outputs stay out of img/
            try:
                NotebookClient(rerun, timeout=1800, kernel_name="python3",
                               resources={"metadata": {"path": str(self.path.parent)}}).execute()
            except CellExecutionError as err:
                raise LessonFailure(f"the notebook raised an error on this machine:\n{str(err)[-3000:]}") from None
            finally:
                os.environ.pop("LOSSURF_IMG_DIR", None)
        seconds = time.perf_counter() - t
        problems = compare(committed, rerun)
        n = len(notebook_verdicts(committed))
        self.user_properties.append(("seconds", round(seconds)))
        if problems:
            raise LessonFailure(f"{len(problems)} difference(s) that do not come from rounding "
                                f"({n} verdicts committed, run took {seconds:.0f} s):\n- " + "\n- ".join(problems))
        print(f"{self.path.name}: lessons hold ({n} verdicts, {seconds:.0f} s)")

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, LessonFailure):
            return f"{self.path.name} in lesson mode: {excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, f"{self.path.name}::lessons"
