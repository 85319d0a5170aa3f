"""scripts/robustness.py end to end on a tiny notebook written for the test: real reruns through the series
runner (one seed set flips a verdict, one crashes, the CPU rerun holds), then --resume. Each rerun starts a
kernel, so this lives outside the unit tests."""
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from lossurf import arithmetic
from tests.script_helpers import code_cell as _code
from tests.script_helpers import notebook as _nb

ROOT = Path(__file__).resolve().parents[1]






SYNTHETIC = '''import os
flips = SEED % 2 == 1
print("shown: the seed-free claim holds — measured 1.0")
print(f"{'not shown with these settings' if flips else 'shown'}: the seed-sensitive claim — SEED {SEED}")
print(f"shown: an old-format line with {SEED + 10} numbers")
print("cpu:", os.environ.get("ATEN_CPU_CAPABILITY"), os.environ.get("LOSSURF_ARITHMETIC"))
import lossurf
print("lossurf from", lossurf.__file__)
if SEED == 2:
    raise RuntimeError("asked to crash on SEED 2")
'''


@pytest.mark.slow
def test_end_to_end_on_a_tiny_notebook(tmp_path):
    """A real run through scripts/run_series.py: one seed set flips a verdict, one crashes, the CPU rerun
    holds; --resume then runs nothing."""
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    nb = _nb(nbformat.v4.new_markdown_cell("# Tiny"), _code("SEED = 0\nSEEDS = [0, 1]", ["parameters"]), _code(SYNTHETIC))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    from nbclient import NotebookClient
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    nbformat.write(nb, nbdir / "01_tiny.ipynb")
    doc = tmp_path / "robustness.md"
    cmd = [sys.executable, str(ROOT / "scripts" / "robustness.py"), "--notebook-dir", str(nbdir), "--doc", str(doc),
           "--runs", str(tmp_path / "runs"), "--shifts", "1", "2", "--capabilities", "default"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    text = doc.read_text()
    assert "**Verdicts unchanged in 5 of 9 (55.6%)**: 3 verdicts on 3 reruns; 0 of 3 verdicts held on every rerun." in text
    assert "| 1 | shown: the seed-free claim holds — measured 1.0 | shown | shown | **shown (then crashed)** | shown | 2 of 3 |" in text
    assert "| 2 | shown: the seed-sensitive claim — SEED 0 | shown | **not shown** | **shown (then crashed)** | shown | 1 of 3 |" in text
    assert "RuntimeError: asked to crash on SEED 2" in text
    assert "PyTorch kernels DEFAULT" in text
    if arithmetic.choose_mode(arithmetic.this_machine()).pins:     # x86-64 with AVX2: the seed reruns are pinned
        assert "PyTorch kernels AVX2" in text
    printed = (tmp_path / "runs" / "01_tiny" / "cpu-default" / "01_tiny.ipynb").read_text()
    assert "cpu: default native" in printed
    assert f"lossurf from {ROOT / 'lossurf' / '__init__.py'}" in printed     # this checkout's, whatever is installed
    again = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and again.stdout.count("kept from") == 3
    assert "unchanged in 5 of 9" in doc.read_text()
