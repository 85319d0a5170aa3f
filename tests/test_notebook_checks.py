"""Lesson mode's comparison: it passes a rerun whose numbers moved, and fails one whose lesson did not hold."""
import copy
import re
from pathlib import Path

import nbformat

from lossurf.notebook_checks import compare, counts, mask
from lossurf.report import notebook_verdicts

ROOT = Path(__file__).resolve().parents[1]


COMMITTED = nbformat.read(ROOT / "notebooks" / "02_qnetwork_loss_surface.ipynb", as_version=4)


def _streams(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "stream"]


def _edit_text(nb, fn):
    for o in _streams(nb):
        o.text = fn(o.text)
    return nb


def _bump(match):
    """Another rounding: every digit string replaced by another (widths change too, as in a real rerun)."""
    s = match.group(0)
    return str(int(s) * 7 + 3)


def test_mask_and_counts():
    assert mask("loss 0.108 at a = -1.5, |Q| 1.7e+08, 85.7% clipped, nan") == "loss # at a = #, |Q| #, # clipped, #"
    assert mask("main     0.11   x1.00") == mask("main 12.5 x3.25")     # column widths do not count
    assert counts("237 steps, 25 checkpoints; 18 runs of 20,000 steps; 9 episodes") == \
        ["237 steps", "25 checkpoints", "18 runs", "20,000 steps"]


def test_a_notebook_equals_itself_and_its_rerun_with_other_numbers():
    assert compare(COMMITTED, copy.deepcopy(COMMITTED)) == []
    rerun = _edit_text(copy.deepcopy(COMMITTED),
                       lambda t: re.sub(r"(?<=[ .\[(+-])\d+(?=[.%\]) e-])", _bump, t))
    assert rerun.cells != COMMITTED.cells
    assert [p for p in compare(COMMITTED, rerun) if "counts" not in p] == []


def test_a_flipped_verdict_fails():
    assert notebook_verdicts(COMMITTED)[0].startswith("shown:")
    flipped = copy.deepcopy(COMMITTED)
    done = False
    for o in _streams(flipped):
        if not done and "\nshown:" in "\n" + o.text:
            o.text = re.sub(r"(?m)^shown:", "not shown with these settings:", o.text, count=1)
            done = True
    problems = compare(COMMITTED, flipped)
    assert len(problems) == 1 and "verdict 1 flipped" in problems[0]


def test_a_lost_verdict_other_text_a_count_an_error_or_a_missing_figure_fails():
    def first_stream(nb, holding="20,000 steps"):
        return next(o for o in _streams(nb) if holding in o.text)      # the training cell's summary line

    lost = copy.deepcopy(COMMITTED)
    for o in _streams(lost):
        if "shown:" in o.text:
            o.text = "\n".join(ln for ln in o.text.splitlines() if not ln.startswith("shown:"))
            break
    assert any("verdicts, committed" in p for p in compare(COMMITTED, lost))

    worded = copy.deepcopy(COMMITTED)
    first_stream(worded).text = first_stream(worded).text.replace("random policy", "greedy policy")
    assert any("text differs beyond its numbers" in p for p in compare(COMMITTED, worded))

    counted = copy.deepcopy(COMMITTED)
    first_stream(counted).text = first_stream(counted).text.replace("20,000 steps", "20,001 steps")
    assert any("counts" in p for p in compare(COMMITTED, counted))

    raised = copy.deepcopy(COMMITTED)
    code = [c for c in raised.cells if c.cell_type == "code"]
    code[3].outputs = [nbformat.v4.new_output("error", ename="ValueError", evalue="boom", traceback=[])]
    assert any("raised ValueError: boom" in p for p in compare(COMMITTED, raised))

    no_figure = copy.deepcopy(COMMITTED)
    for c in no_figure.cells:
        if c.cell_type == "code" and any(o.output_type == "display_data" for o in c.outputs):
            c.outputs = [o for o in c.outputs if o.output_type != "display_data"]
            break
    assert any("outputs" in p for p in compare(COMMITTED, no_figure))


def test_stream_chunks_are_joined():
    nb = copy.deepcopy(COMMITTED)
    for c in nb.cells:
        if c.cell_type == "code" and c.outputs and c.outputs[0].output_type == "stream":
            text = c.outputs[0].text
            half = len(text) // 2
            c.outputs[0:1] = [nbformat.v4.new_output("stream", name="stdout", text=text[:half]),
                              nbformat.v4.new_output("stream", name="stdout", text=text[half:])]
            break
    assert compare(COMMITTED, nb) == []
