"""Notebook 01's lessons, checked on the committed, executed notebook.

Every lesson check in the notebook prints a verdict line ("shown: ..." or "not shown with these
settings: ..., because ...") and never raises, so a student's rerun with other parameters always runs
to the end. For the committed parameters every verdict must read "shown:"; nbval (strict output
comparison) then guarantees that a fresh run prints the same lines.
"""
import ast
import json
from pathlib import Path

import pytest

from lossurf.lessons import SHOWN
from lossurf.report import notebook_verdicts

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_mnist_loss_surface.ipynb"


@pytest.fixture(scope="module")
def nb():
    return json.loads(NOTEBOOK.read_text())


def _code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _printed_lines(nb):
    lines = []
    for cell in _code_cells(nb):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stdout":
                lines += "".join(out["text"]).splitlines()
    return lines


def test_every_verdict_of_the_committed_parameters_is_shown(nb):
    verdicts = notebook_verdicts(nb)
    assert len(verdicts) >= 15, f"expected the lesson verdicts in the stored outputs, found {len(verdicts)}"
    not_shown = [ln for ln in verdicts if not ln.startswith(SHOWN)]
    assert not not_shown, "lessons not shown with the committed parameters:\n" + "\n".join(not_shown)


@pytest.mark.parametrize("topic", ["past a = 1", "clipping tamed", "v1's gradient exploded",
                                   "clipping does not make a too-large learning rate stable", "barely moved",
                                   "raw step overshoots", "parabola", "sharpest valley", "plateau reacted",
                                   "decay_floor reached its floor"])
def test_each_lesson_has_its_verdict(nb, topic):
    assert any(topic in ln for ln in notebook_verdicts(nb)), topic


def test_notebook_cells_never_assert_and_stored_run_has_no_errors(nb):
    for cell in _code_cells(nb):
        source = "".join(cell["source"])
        tree = ast.parse("\n".join(ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))))
        assert not any(isinstance(node, ast.Assert) for node in ast.walk(tree)), source[:200]
        assert not any(o.get("output_type") == "error" for o in cell.get("outputs", [])), source[:200]


def test_stored_outputs_are_small_and_free_of_timings(nb):
    assert NOTEBOOK.stat().st_size <= 3 * 2**20
    text = "\n".join(_printed_lines(nb))
    assert "it/s" not in text and "s/it" not in text
    params = [c for c in _code_cells(nb) if "parameters" in c["metadata"].get("tags", [])]
    assert len(params) == 1
