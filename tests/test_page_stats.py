"""scripts/page_stats.py: prose words on and off the main path, Korean words, code cell lengths."""
import importlib.util
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("page_stats", ROOT / "scripts" / "page_stats.py")
ps = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ps)


def test_words_skip_code_math_and_markup():
    text = "A *loss* surface `ls.loss_plane(x)` with $\\lambda_1$ and [a link](http://x.y/z) <b>bold</b>\n|---|---|\n"
    assert ps._words(text) == ["A", "loss", "surface", "with", "and", "a", "link", "bold"]


def test_stats_split_the_main_path_from_going_further_and_count_code_lines():
    v4 = nbformat.v4
    nb = v4.new_notebook(cells=[v4.new_markdown_cell("# Title\nOne two three."),
                                v4.new_code_cell("x = 1\n\ny = 2\n"),
                                v4.new_code_cell("\n".join(f"a{i} = {i}" for i in range(16))),
                                v4.new_markdown_cell("## Going further\nFour five 핵심 정리"),
                                v4.new_markdown_cell("six")])
    s = ps.stats(nb)
    assert s["words, main path"] == 4 and s["words, going further"] == 7 and s["Korean words"] == 2
    assert s["code cells"] == 2 and s["code lines"] == 18 and s["cells over 15 lines"] == 1
    assert s["longest cells (lines, cell)"] == [(16, 2), (2, 1)]
