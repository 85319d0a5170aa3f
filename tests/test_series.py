"""The main job's override path: a notebook reruns with other settings into another folder."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_rerun_with_overrides_writes_copies_and_figures(tmp_path):
    out = tmp_path / "noclip"
    before = (ROOT / "notebooks" / "01_mnist_loss_surface.ipynb").read_bytes()
    cmd = [sys.executable, str(ROOT / "scripts" / "run_series.py"), str(ROOT / "notebooks" / "01_mnist_loss_surface.ipynb"),
           "--clip-norm", "none", "--lr-schedule", "plateau", "--lr", "0.05", "--seed", "1",
           "--set", "GRID=5", "--set", "EPOCHS=1", "--set", "TRAIN_PER_CLASS=100", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    nb = json.loads((out / "01_mnist_loss_surface.ipynb").read_text())
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected and "CLIP_NORM = None" in "".join(injected[0]["source"])
    text = json.dumps(nb)
    assert "CLIP_NORM is None, so both runs are unclipped" in text
    assert '"output_type": "error"' not in text
    assert len(list((out / "img").glob("*.png"))) == 13
    assert (ROOT / "notebooks" / "01_mnist_loss_surface.ipynb").read_bytes() == before


def test_overrides_refuse_to_overwrite_the_committed_notebooks():
    cmd = [sys.executable, str(ROOT / "scripts" / "run_series.py"), "--seed", "2", "--out", str(ROOT / "notebooks")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "never overwrite" in done.stderr
