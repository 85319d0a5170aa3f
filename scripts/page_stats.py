"""How heavy each notebook's pages are: words of prose (on the main path, before a "Going further"
heading, and in all), how much of it is Korean, lines of code, the longest code cells.

    python scripts/page_stats.py                  # every notebook in notebooks/
    python scripts/page_stats.py notebooks/01_mnist_loss_surface.ipynb --longest 5
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
GOING_FURTHER = re.compile(r"^#+\s*going further", re.I | re.M)
HANGUL = re.compile(r"[\uac00-\ud7a3]")
MAX_CELL_LINES = 15


def _words(text: str) -> list[str]:
    """Words of markdown prose: code spans, math, HTML tags, link targets and table rules removed."""
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    text = re.sub(r"`[^`]*`|\$[^$]*\$|<[^>]+>|\]\([^)]*\)|^\s*\|?[-:| ]+\|\s*$", " ", text, flags=re.M)
    return re.findall(r"[^\W\d_][\w'’-]*", text)


def stats(nb) -> dict:
    """Word and line counts of one notebook (``nbformat`` node)."""
    main, extra, korean, code = 0, 0, 0, []
    further = False
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            further = further or bool(GOING_FURTHER.search(cell.source))
            words = _words(cell.source)
            korean += sum(1 for w in words if HANGUL.search(w))
            if further:
                extra += len(words)
            else:
                main += len(words)
        elif cell.cell_type == "code":
            code.append((len([ln for ln in cell.source.splitlines() if ln.strip()]), i))
    return {"words, main path": main, "words, going further": extra, "Korean words": korean,
            "code cells": len(code), "code lines": sum(n for n, _ in code),
            f"cells over {MAX_CELL_LINES} lines": sum(1 for n, _ in code if n > MAX_CELL_LINES),
            "longest cells (lines, cell)": sorted(code, reverse=True)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="*", type=Path)
    ap.add_argument("--longest", type=int, default=3, help="how many of the longest code cells to list")
    args = ap.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in paths:
        s = stats(nbformat.read(path, as_version=4))
        longest = ", ".join(f"{n} (cell {i})" for n, i in s.pop("longest cells (lines, cell)")[:args.longest])
        print(f"{path.name}: " + ", ".join(f"{k} {v}" for k, v in s.items()) + f"; longest {longest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
