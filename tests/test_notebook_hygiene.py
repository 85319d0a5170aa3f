"""What nbval does not check in the committed notebooks: they are stored executed, small, free of timings and
widget state, without ``assert`` in their cells, and they import lossurf before torch (so that the reference
arithmetic is pinned before torch's kernels run)."""
import ast
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TIMING = re.compile(r"\d+(?:\.\d+)?\s*(?:it/s|s/it)|\d\d:\d\d<\d\d:\d\d")     # tqdm's rates and clocks


def _code(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_is_executed_small_and_clean(path):
    assert path.stat().st_size <= 3 * 2**20, f"{path.name} is over 3 MB"
    nb = nbformat.read(path, as_version=4)
    assert "widgets" not in nb.metadata, "widget state stored: GitHub refuses to render it"
    code = _code(nb)
    assert all(c.execution_count is not None for c in code if c.source.strip()), "not executed top to bottom"
    counts = [c.execution_count for c in code if c.source.strip()]
    assert counts == sorted(counts), "cells were executed out of order"
    for c in code:
        tree = ast.parse("\n".join(ln for ln in c.source.splitlines() if not ln.lstrip().startswith(("%", "!"))))
        assert not any(isinstance(n, ast.Assert) for n in ast.walk(tree)), "assert in a notebook cell"
        for out in c.outputs:
            text = "".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", ""))
            assert not TIMING.search(text), f"a progress bar or timing is stored: {TIMING.search(text).group(0)}"
            assert out.output_type != "error", "a stored error"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_lossurf_is_imported_before_torch(path):
    nb = nbformat.read(path, as_version=4)
    imports = []
    for c in _code(nb):
        for node in ast.walk(ast.parse(c.source)):
            if isinstance(node, ast.Import):
                imports += [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                imports.append(node.module.split(".")[0])
    assert "lossurf" in imports
    if "torch" in imports:
        assert imports.index("lossurf") < imports.index("torch")
