"""The main job's override path (a notebook reruns with other settings into another folder) and the
answer-key generator built on it."""
import subprocess
from pathlib import Path

import nbformat
import pytest

from lossurf.report import notebook_verdicts
from tests.script_helpers import code_cell as _code
from tests.script_helpers import load_script as _load
from tests.script_helpers import notebook as _nb

ROOT = Path(__file__).resolve().parents[1]


FIXTURE = ROOT / "tests" / "fixtures" / "params.ipynb"


RUN_SERIES = ROOT / "scripts" / "run_series.py"




rs = _load("run_series")


ak = _load("answer_key")


@pytest.mark.parametrize("text, value", [
    ("None", None), ("3", 3), ("20_000", 20000), ("2.3e-3", 2.3e-3), ("True", True), ('"step"', "step"),
    ("step", "step"), ("(3, 4)", (3, 4)), (" (0, 1, 2) ", (0, 1, 2)), ("[1]", [1]), ("none", "none"),
    ("1e999", float("inf")), ("a=b", "a=b"),
])
def test_parse_value(text, value):
    assert rs.parse_value(text) == value and type(rs.parse_value(text)) is type(value)


def test_literal_round_trips_and_handles_infinity():
    for v in [None, 1, 1.5, "a'b\"c", True, (1,), (1, 2), [1, "x"], {"k": (1, 2)}, float("inf"), -float("inf")]:
        assert eval(rs.literal(v)) == v  # noqa: S307 - the test's own values






def test_parameter_names_and_injection_in_memory():
    nb = _nb(_code("import x"), _code("A = 1\nB: int = 2  # note\nC = D = 3\nE, F = 4, 5\nif A:\n    G = 6", ["parameters"]),
             _code("print(A)"))
    assert rs.parameter_names(nb) == ["A", "B", "C", "D", "E", "F"]
    rs.inject(nb, {"A": (1, 2), "F": None})
    assert [c.metadata.get("tags") for c in nb.cells] == [[], ["parameters"], ["injected-parameters"], []]
    assert nb.cells[2].source.splitlines()[1:] == ["A = (1, 2)", "F = None"]
    rs.inject(nb, {"B": "s"})                         # a second injection replaces the first
    assert sum("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells) == 1
    with pytest.raises(ValueError, match="G: not a parameter of notebook; its parameters are A, B, C, D, E, F"):
        rs.inject(nb, {"G": 1})
    with pytest.raises(ValueError, match="no cell tagged 'parameters'"):
        rs.inject(_nb(_code("A = 1")), {"A": 2})


TRY = """## Glossary

| term | 한국어 |
|---|---|
| `--not-an-item` | x |

## Try it yourself

1. Set `--set TOTAL_STEPS=20000`: how far does DQN get?
2. Try `--clip-norm none --set X=1` and compare
   with `--lr 0.05`.
- Try `--set CLIP_NORM=0.5` or ``--set CLIP_NORM=5.0``: which fraction is clipped?
* Read `CLIP_NORM = None` in the code (no rerun here).
3. Set `--set "SEEDS=(3, 4)"`.

## Next section

- `--set OUTSIDE=1` is not in the Try it yourself section
"""


def test_try_section_stops_at_the_next_heading():
    nb = _nb(nbformat.v4.new_markdown_cell("# Title\n\nno exercises"), nbformat.v4.new_markdown_cell(TRY),
             _code("print('Try it yourself')"))
    sections = ak.try_sections(nb)
    assert len(sections) == 1
    assert sections[0].startswith("## Try it yourself") and "OUTSIDE" not in sections[0] and "Glossary" not in sections[0]


def test_items_join_continuation_lines():
    items = ak.list_items(ak.try_sections(_nb(nbformat.v4.new_markdown_cell(TRY)))[0])
    assert items == ["Set `--set TOTAL_STEPS=20000`: how far does DQN get?",
                     "Try `--clip-norm none --set X=1` and compare with `--lr 0.05`.",
                     "Try `--set CLIP_NORM=0.5` or ``--set CLIP_NORM=5.0``: which fraction is clipped?",
                     "Read `CLIP_NORM = None` in the code (no rerun here).",
                     'Set `--set "SEEDS=(3, 4)"`.']


def test_code_spans():
    assert ak.code_spans("a `x` b ``y ` z`` c ` padded ` d") == ["x", "y ` z", "padded"]
    assert ak.code_spans("no spans here") == []


def test_item_reruns_join_spans_unless_they_set_the_same_thing_again():
    assert ak.item_reruns("Set `--set TOTAL_STEPS=20000`: how far?") == [["--set", "TOTAL_STEPS=20000"]]
    assert ak.item_reruns("Try `--clip-norm none --set X=1` and `--lr 0.05`") == [
        ["--clip-norm", "none", "--set", "X=1", "--lr", "0.05"]]
    assert ak.item_reruns("Try `--set CLIP_NORM=0.5` or `--clip-norm 5.0` or `--set CLIP_NORM=None`") == [
        ["--set", "CLIP_NORM=0.5"], ["--clip-norm", "5.0"], ["--set", "CLIP_NORM=None"]]
    assert ak.item_reruns('Set `--set "SEEDS=(3, 4)"`') == [["--set", "SEEDS=(3, 4)"]]
    assert ak.item_reruns("Read `CLIP_NORM = None`") == []


def test_reruns_number_and_commands():
    nb = _nb(nbformat.v4.new_markdown_cell(TRY))
    runs = ak.reruns(nb, ROOT / "notebooks" / "03_dqn_loss_surface.ipynb")
    assert [(r.item_number, r.number) for r in runs] == [(1, 1), (2, 2), (3, 3), (3, 4), (5, 5)]
    assert runs[4].command == ["python", "scripts/run_series.py", "notebooks/03_dqn_loss_surface.ipynb",
                               "--set", "SEEDS=(3, 4)", "--out", "runs/answer_key/03_dqn_loss_surface/5"]


def test_verdict_extraction():
    stdout = ("03_dqn.ipynb: TOTAL_STEPS not a parameter here, not set\nshown: DQN solves it\n"
              "  shown: indented is not a verdict\n\x1b[0mnot shown with these settings: x, because y\n"
              "03_dqn.ipynb: 200 s, 0.3 MB, 9 figures -> runs/x/img\n")
    assert ak.verdict_lines(stdout) == ["shown: DQN solves it", "not shown with these settings: x, because y"]
    nb = _nb(_code("print()"), _code("print()"))
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="shown: a\nother\n"),
                           nbformat.v4.new_output("execute_result", data={"text/plain": "'shown: not a print'"})]
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text=["not shown with these settings: b\n"])]
    assert notebook_verdicts(nb) == ["shown: a", "not shown with these settings: b"]


def test_verdict_table_marks_what_changed():
    rows = ak.verdict_table(["shown: a", "shown: b | c", "shown: d"], ["shown: a", "not shown with these settings: b", "shown: d"])
    assert rows[2] == "| shown: a | (same) |"
    assert rows[3] == "| shown: b \\| c | **not shown with these settings: b** _(paired by position)_ |"
    assert rows[4] == "| shown: d | (same) |"


def test_partial_regeneration_keeps_other_sections_and_includes_quizzes(tmp_path):
    nbdir, docs = tmp_path / "notebooks", tmp_path / "docs"
    nbdir.mkdir(), docs.mkdir()
    for stem in ["01_a", "02_b"]:
        nbformat.write(_nb(nbformat.v4.new_markdown_cell(f"# Lesson {stem}"), nbformat.v4.new_markdown_cell(TRY)),
                       nbdir / f"{stem}.ipynb")
    (docs / "quiz_answers_01.md").write_text("# Quiz 01\n\n1. **Answer** one\n")
    old = ak.render(sorted(nbdir.glob("*.ipynb")), {"01_a": ["old 01 block"], "02_b": ["old 02 block"]}, docs)
    assert "old 02 block" in old and "### Quiz answers" in old and "### Quiz 01" in old
    blocks = ak.kept_blocks(old)
    assert blocks == {"01_a": ["old 01 block"], "02_b": ["old 02 block"]}
    blocks["01_a"] = ["new 01 block"]
    new = ak.render(sorted(nbdir.glob("*.ipynb")), blocks, docs)
    assert "new 01 block" in new and "old 02 block" in new and "old 01 block" not in new
    assert new.index("## Lesson 01_a") < new.index("new 01 block") < new.index("## Lesson 02_b")


def test_the_key_covers_the_tracked_notebooks_only():
    """Scratch copies lying in notebooks/ (untracked) get no section of their own."""
    tracked = subprocess.run(["git", "ls-files", "--", "*.ipynb"], cwd=ROOT / "notebooks", capture_output=True,
                             text=True, check=True).stdout.split()
    tracked = [p for p in tracked if "/" not in p]      # notebooks/ko/ holds the Korean copies: no reruns of their own
    assert [p.name for p in ak.listed(ROOT / "notebooks")] == sorted(tracked)
