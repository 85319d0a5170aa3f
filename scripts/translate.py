"""The Korean edition (`notebooks/ko/`), built from the English notebooks and one translation file each.

A translation file, ``translations/ko/<notebook>.md``, holds one block per markdown cell of the English
notebook, keyed by the cell's id and by a hash of the English source it was translated from:

    <!-- cell 7b3bf726 · en 3f2a9c01b2d4 -->
    # 2 · 온라인 Q-러닝 ...

The Korean notebook is the English one with each markdown cell's source replaced by its block: code cells
and their outputs are copied, so nothing runs twice and the Korean pages show the very numbers the tested
English pages show. When an English markdown cell changes, its hash no longer matches and the check says
which cell is stale (``tests/test_korean_edition.py`` runs the check).

    python scripts/translate.py              # check every notebook; exit 1 on a problem
    python scripts/translate.py build        # rewrite notebooks/ko/*.ipynb from the English and the blocks
    python scripts/translate.py todo         # print each missing or stale cell's current English source
    python scripts/translate.py stub         # append a block (English text, to be translated) per missing cell
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
ENGLISH = ROOT / "notebooks"
KOREAN = ROOT / "notebooks" / "ko"
TRANSLATIONS = ROOT / "translations" / "ko"
HEADER = re.compile(r"^<!-- cell (?P<id>\S+) · en (?P<hash>[0-9a-f]{12}) -->[ \t]*$", re.M)
HANGUL = re.compile(r"[\uac00-\ud7a3]")
LETTERS = re.compile(r"[A-Za-z]{3,}")


def english_hash(source: str) -> str:
    """The first 12 hex digits of the SHA-256 of an English cell's source: what a block was translated from."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:12]


def notebooks() -> list[Path]:
    return sorted(ENGLISH.glob("*.ipynb"))


def translation_path(english: Path) -> Path:
    return TRANSLATIONS / f"{english.stem}.md"


def korean_path(english: Path) -> Path:
    return KOREAN / english.name


def parse(text: str, where: str = "translation") -> dict[str, tuple[str, str]]:
    """``{cell id: (english hash, korean markdown)}`` from a translation file's text."""
    heads = list(HEADER.finditer(text))
    if text[:heads[0].start() if heads else len(text)].strip():
        raise ValueError(f"{where}: text before the first '<!-- cell ID · en HASH -->' line")
    blocks = {}
    for h, nxt in zip(heads, heads[1:] + [None]):
        body = text[h.end():nxt.start() if nxt else len(text)].strip("\n")
        if h["id"] in blocks:
            raise ValueError(f"{where}: cell {h['id']} has two blocks; keep one")
        blocks[h["id"]] = (h["hash"], body.rstrip())
    return blocks


def render(blocks: dict[str, tuple[str, str]]) -> str:
    return "".join(f"<!-- cell {cid} · en {h} -->\n{body}\n\n" for cid, (h, body) in blocks.items()).rstrip() + "\n"


def load_blocks(english: Path) -> dict[str, tuple[str, str]]:
    path = translation_path(english)
    return parse(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT))) if path.exists() else {}


def translation_problems(en_nb, blocks: dict[str, tuple[str, str]], name: str) -> list[str]:
    """Missing, stale, untranslated and orphaned blocks of one notebook's translation."""
    problems, ids = [], set()
    for i, cell in enumerate(en_nb.cells):
        if cell.cell_type != "markdown":
            continue
        ids.add(cell.id)
        where = f"{name} cell {i} (id {cell.id})"
        if cell.id not in blocks:
            problems.append(f"{where}: no translation (run `python scripts/translate.py stub`, then translate it)")
            continue
        h, body = blocks[cell.id]
        if h != english_hash(cell.source):
            problems.append(f"{where}: stale: the English changed since it was translated (hash {h}, now "
                            f"{english_hash(cell.source)}); update the Korean, then its hash "
                            f"(`python scripts/translate.py todo` shows the English)")
        elif LETTERS.search(cell.source) and (not HANGUL.search(body) or body.strip() == cell.source.strip()):
            problems.append(f"{where}: untranslated: the block holds no Korean, or the English as it is")
    for cid in blocks:
        if cid not in ids:
            problems.append(f"{name}: block for cell {cid}, which is no markdown cell of the English notebook; remove it")
    return problems


def build(en_nb, blocks: dict[str, tuple[str, str]]):
    """The Korean notebook: the English one with every translated markdown cell's source replaced."""
    ko = copy.deepcopy(en_nb)
    for cell in ko.cells:
        if cell.cell_type == "markdown" and cell.id in blocks:
            cell.source = blocks[cell.id][1]
    ko.metadata["lossurf_translation"] = {"language": "ko", "from": f"../{ENGLISH.name}/"}
    return ko


def sync_problems(en_nb, ko_nb, blocks: dict[str, tuple[str, str]], name: str) -> list[str]:
    """Where the committed Korean notebook differs from what ``build`` makes: a code cell, an output, the
    order of cells or a markdown cell that is not its block."""
    want = build(en_nb, blocks)
    if [c.id for c in ko_nb.cells] != [c.id for c in want.cells]:
        return [f"ko/{name}: its cells are not the English notebook's cells in order; rebuild it "
                f"(`python scripts/translate.py build`)"]
    problems = []
    for i, (have, cell) in enumerate(zip(ko_nb.cells, want.cells)):
        if have.cell_type != cell.cell_type:
            problems.append(f"ko/{name} cell {i} (id {cell.id}): a {have.cell_type} cell where the English has a "
                            f"{cell.cell_type} cell")
        elif cell.cell_type == "code":
            for key in ("source", "outputs", "execution_count", "metadata"):
                if have.get(key) != cell.get(key):
                    problems.append(f"ko/{name} cell {i} (id {cell.id}): its code cell's {key} differs from the "
                                    f"English; rebuild it (`python scripts/translate.py build`)")
        elif have.source != cell.source:
            problems.append(f"ko/{name} cell {i} (id {cell.id}): its markdown is not the translation file's block; "
                            f"edit translations/ko/, not the Korean notebook, then rebuild")
    return problems


def check(paths: list[Path] | None = None) -> list[str]:
    """Every problem of the Korean edition, for each English notebook in ``paths`` (default: all)."""
    problems = []
    for english in paths or notebooks():
        en_nb = nbformat.read(english, as_version=4)
        try:
            blocks = load_blocks(english)
        except ValueError as err:
            problems.append(str(err))
            continue
        problems += translation_problems(en_nb, blocks, english.name)
        ko = korean_path(english)
        if not ko.exists():
            problems.append(f"ko/{english.name} is missing; run `python scripts/translate.py build`")
        else:
            problems += sync_problems(en_nb, nbformat.read(ko, as_version=4), blocks, english.name)
    return problems


def _todo(english: Path) -> list[tuple[str, str]]:
    en_nb, blocks = nbformat.read(english, as_version=4), load_blocks(english)
    return [(c.id, c.source) for c in en_nb.cells if c.cell_type == "markdown"
            and (c.id not in blocks or blocks[c.id][0] != english_hash(c.source))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", nargs="?", default="check", choices=("check", "build", "todo", "stub"))
    parser.add_argument("notebooks", nargs="*", type=Path, help="English notebooks (default: all in notebooks/)")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or notebooks()
    if args.command == "build":
        KOREAN.mkdir(exist_ok=True)
        for english in paths:
            ko_nb = build(nbformat.read(english, as_version=4), load_blocks(english))
            nbformat.write(ko_nb, korean_path(english))
            print(f"wrote {korean_path(english).relative_to(ROOT)}")
    elif args.command in ("todo", "stub"):
        for english in paths:
            todo = _todo(english)
            if args.command == "todo":
                for cid, source in todo:
                    print(f"===== {english.name} cell {cid} · en {english_hash(source)}\n{source}\n")
            else:
                blocks = load_blocks(english)
                blocks.update({cid: (english_hash(src), src) for cid, src in todo if cid not in blocks})
                en_ids = [c.id for c in nbformat.read(english, as_version=4).cells]
                ordered = dict(sorted(blocks.items(), key=lambda kv: en_ids.index(kv[0]) if kv[0] in en_ids else 1e9))
                TRANSLATIONS.mkdir(parents=True, exist_ok=True)
                translation_path(english).write_text(render(ordered), encoding="utf-8")
                print(f"{translation_path(english).relative_to(ROOT)}: {len(todo)} cell(s) to translate")
    problems = check(paths)
    for p in problems:
        print(p, file=sys.stderr)
    if args.command == "check":
        print(f"Korean edition: {len(problems)} problem(s) in {len(paths)} notebook(s)")
    return 1 if problems and args.command == "check" else 0


if __name__ == "__main__":
    sys.exit(main())
