"""The scripts end to end, each in its own process: the series runner with every kind of override, a real notebook
rerun, its errors, and the answer key on the fixture notebook. Slow (each starts Python, torch and a kernel), so
they live outside ``tests/`` (the unit tests); the README's test command runs both."""
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests.script_helpers import load_script as _load

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "params.ipynb"
RUN_SERIES = ROOT / "scripts" / "run_series.py"




ak = _load("answer_key")


def _printed(nb_path: Path) -> str:
    nb = json.loads(nb_path.read_text())
    return "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))


def test_every_kind_of_value_arrives_as_that_python_value(tmp_path):
    out = tmp_path / "kinds"
    cmd = [sys.executable, str(RUN_SERIES), str(FIXTURE),
           "--set", "NONE_P=7", "--set", "INT_P=None", "--set", "FLOAT_P=2.5", "--set", "STR_P=hello world",
           "--set", "BOOL_P=True", "--set", "TUPLE_P=(3, 4)", "--set", "LIST_P=[1, 'x']",
           "--clip-norm", "none", "--lr", "0.05", "--lr-schedule", "step", "--seed", "3", "--out", str(out)]
    before = FIXTURE.read_bytes()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    printed = _printed(out / "params.ipynb")
    for line in ["NONE_P: int 7", "INT_P: NoneType None", "FLOAT_P: float 2.5", "STR_P: str 'hello world'",
                 "BOOL_P: bool True", "TUPLE_P: tuple (3, 4)", "LIST_P: list [1, 'x']", "SEED: int 3",
                 "CLIP_NORM: NoneType None", "LR: float 0.05", "LR_SCHEDULE: str 'step'"]:
        assert line in printed
    nb = nbformat.read(out / "params.ipynb", as_version=4)
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert tags.index(["injected-parameters"]) == tags.index(["parameters"]) + 1
    assert "TUPLE_P = (3, 4)" in nb.cells[2].source and "CLIP_NORM = None" in nb.cells[2].source
    assert "shown: INT_P was changed" in done.stdout          # the runner prints the notebook's verdicts
    assert FIXTURE.read_bytes() == before


@pytest.mark.slow
def test_rerun_of_notebook01_with_overrides_writes_copies_and_figures(tmp_path):
    out = tmp_path / "noclip"
    before = (ROOT / "notebooks" / "01_mnist_loss_surface.ipynb").read_bytes()
    cmd = [sys.executable, str(RUN_SERIES), str(ROOT / "notebooks" / "01_mnist_loss_surface.ipynb"),
           "--clip-norm", "none", "--lr-schedule", "plateau", "--lr", "0.05", "--seed", "1",
           "--set", "GRID=5", "--set", "EPOCHS=1", "--set", "TRAIN_PER_CLASS=100", "--set", "HIDDEN=(32, 16)",
           "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    nb = json.loads((out / "01_mnist_loss_surface.ipynb").read_text())
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected and "CLIP_NORM = None" in "".join(injected[0]["source"])
    assert "HIDDEN = (32, 16)" in "".join(injected[0]["source"])
    text = json.dumps(nb)
    assert "CLIP_NORM is None, so both runs are unclipped" in text
    assert '"output_type": "error"' not in text
    assert len(list((out / "img").glob("*.png"))) == 15          # every tagged figure of notebook 01
    assert (ROOT / "notebooks" / "01_mnist_loss_surface.ipynb").read_bytes() == before


def test_unknown_parameter_is_an_error_naming_the_valid_ones(tmp_path):
    cmd = [sys.executable, str(RUN_SERIES), str(FIXTURE), "--set", "SEEDZ=(1, 2)", "--out", str(tmp_path / "x")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "SEEDZ" in done.stderr and "not a parameter" in done.stderr and "TUPLE_P" in done.stderr
    assert not (tmp_path / "x" / "params.ipynb").exists()


def test_a_failing_rerun_keeps_its_copy_and_exits_nonzero(tmp_path):
    out = tmp_path / "fail"
    cmd = [sys.executable, str(RUN_SERIES), str(FIXTURE), "--set", "STR_P=fail", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "asked to fail" in done.stderr
    assert "asked to fail" in json.dumps(json.loads((out / "params.ipynb").read_text()))


def test_overrides_refuse_to_overwrite_the_committed_notebooks():
    cmd = [sys.executable, str(RUN_SERIES), "--seed", "2", "--out", str(ROOT / "notebooks")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "never overwrite" in done.stderr


@pytest.mark.slow
def test_answer_key_end_to_end_on_the_fixture(tmp_path):
    """The fixture's items through the real runner into a key: the dry run lists all four items' reruns,
    the real run (on two of them, to stay quick) records verdicts, a failure and an item with no command."""
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    (nbdir / "01_params.ipynb").write_bytes(FIXTURE.read_bytes())
    key = tmp_path / "docs" / "answer_key.md"
    dry = subprocess.run([sys.executable, str(ROOT / "scripts" / "answer_key.py"), "--notebook-dir", str(nbdir),
                          "--key", str(key), "--dry-run"], capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0 and "4 items, 4 reruns" in dry.stdout and not key.exists()
    assert "--set 'TUPLE_P=(3, 4)' --clip-norm none --set LR=0.5 --out" in dry.stdout
    nb = nbformat.read(nbdir / "01_params.ipynb", as_version=4)
    nb.cells[-1].source = ("## Try it yourself\n\n1. Set `--set INT_P=2`.\n2. Try `--set STR_P=fail`.\n"
                           "3. Read the code (no command).\n")
    nbformat.write(nb, nbdir / "01_params.ipynb")
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "answer_key.py"), "--notebook-dir", str(nbdir),
                           "--key", str(key), "--runs", str(tmp_path / "runs")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    text = key.read_text()
    assert "**shown: INT_P was changed**" in text                 # item 1 changes the verdict
    assert "The rerun **failed**" in text and "RuntimeError: asked to fail" in text   # item 2
    assert "_No command to rerun" in text                          # item 3
    assert text.count("Run time: ") == 2
    kept = ak.records(ak.kept_blocks(text)["01_params"])
    assert [d["verdicts"] for d in kept.values()] == [["shown: INT_P was changed"], []]
    again = subprocess.run([sys.executable, str(ROOT / "scripts" / "answer_key.py"), "--notebook-dir", str(nbdir),
                            "--key", str(key), "--runs", str(tmp_path / "runs"), "--resume"],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and again.stdout.count("kept from") == 2       # --resume reruns nothing
    assert key.read_text().count("**shown: INT_P was changed**") == 1
    (tmp_path / "docs" / "quiz_answers_01.md").write_text("# Quiz\n\n1. **Answer** one\n")
    norun = subprocess.run([sys.executable, str(ROOT / "scripts" / "answer_key.py"), "--notebook-dir", str(nbdir),
                            "--key", str(key), "--runs", str(tmp_path / "runs"), "--no-run"],
                           capture_output=True, text=True, timeout=60)
    text = key.read_text()                                         # --no-run: measurements kept, the quiz added
    assert norun.returncode == 0 and "**shown: INT_P was changed**" in text and "1. **Answer** one" in text
