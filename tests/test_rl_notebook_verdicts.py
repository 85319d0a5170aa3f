"""The RL notebooks' lesson checks, as committed: each prints a verdict line instead of asserting, and
for the committed parameters every verdict must be "shown: ...". (nbval also compares these lines
on every rerun, so a change that flips a verdict fails there too.)"""
import json
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def verdicts(path: Path) -> list[str]:
    lines = []
    for cell in json.loads(path.read_text())["cells"]:
        for out in cell.get("outputs", []):
            text = "".join(out.get("text", "")) if out.get("name") == "stdout" else ""
            lines += [l for l in text.splitlines() if l.startswith(("shown:", "not shown"))]
    return lines


@pytest.mark.parametrize("name", ["02_qnetwork_loss_surface.ipynb", "03_dqn_loss_surface.ipynb"])
def test_committed_rl_notebooks_show_their_lessons(name):
    found = verdicts(NOTEBOOKS / name)
    assert found, f"{name} prints no verdict line"
    assert all(v.startswith("shown:") for v in found), found


@pytest.mark.parametrize("name", ["02_qnetwork_loss_surface.ipynb", "03_dqn_loss_surface.ipynb"])
def test_rl_notebooks_check_lessons_without_assert(name):
    for cell in json.loads((NOTEBOOKS / name).read_text())["cells"]:
        if cell["cell_type"] == "code":
            assert not any(l.lstrip().startswith("assert ") for l in "".join(cell["source"]).splitlines())
