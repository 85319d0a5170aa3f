"""``pytest --lessons`` end to end on small notebooks written for the test: a rerun whose digits moved passes, a
flipped verdict fails. Each case starts pytest, Python and a kernel, so it lives outside the unit tests."""
import os
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


LESSON_NB = """
x = sum(0.1 for _ in range(10))
print(f"{len(range(12))} steps, x = {x:.17f}")
print("shown: the sum is near 1" if abs(x - 1) < 1e-9 else "not shown with these settings: the sum is far from 1")
"""


def _lesson_notebook(path: Path, stored_x: str, stored_verdict: str):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(LESSON_NB.strip())
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                           text=f"12 steps, x = {stored_x}\n{stored_verdict}\n")]
    nb.cells = [cell]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def _pytest_lessons(path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "--rootdir", str(ROOT), "-c",
                           str(ROOT / "pyproject.toml"), "--lessons", str(path)],
                          capture_output=True, text=True, env=env, cwd=path.parent, timeout=300)


def test_pytest_lessons_passes_moved_digits_and_fails_a_flipped_verdict(tmp_path):
    moved = tmp_path / "moved.ipynb"                  # stored digits from "another machine"
    _lesson_notebook(moved, "1.00000000000000022", "shown: the sum is near 1")
    done = _pytest_lessons(moved)
    assert "LESSON mode - asked for" in done.stdout
    assert done.returncode == 0, done.stdout[-3000:]

    flipped = tmp_path / "flipped.ipynb"              # the stored lesson says the opposite of what runs now
    _lesson_notebook(flipped, "0.99999999999999989", "not shown with these settings: the sum is far from 1")
    done = _pytest_lessons(flipped)
    assert done.returncode == 1
    assert "verdict 1 flipped" in done.stdout
