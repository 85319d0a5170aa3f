"""The Korean edition (`notebooks/ko/`) is in step with the English notebooks, and its Korean follows one
terminology table (`docs/ko/glossary.md`).

In step means: every English markdown cell has a Korean block translated from its current source (the
hash matches), and each Korean notebook is exactly what `scripts/translate.py build` makes: the English
code cells with their outputs, the translated markdown. The negative tests below change an English cell,
an output or a block, and check that the check says so."""
import copy
import re
from pathlib import Path

import nbformat
import pytest

from script_helpers import load_script

translate = load_script("translate")
ROOT = Path(__file__).resolve().parents[1]
ENGLISH = translate.notebooks()
GLOSSARY = ROOT / "docs" / "ko" / "glossary.md"


def _load(english: Path):
    return (nbformat.read(english, as_version=4), nbformat.read(translate.korean_path(english), as_version=4),
            translate.load_blocks(english))


def _first_markdown(nb):
    return next(c for c in nb.cells if c.cell_type == "markdown")


def test_every_english_notebook_has_a_korean_edition():
    assert [p.name for p in ENGLISH] == ["01_mnist_loss_surface.ipynb", "02_qnetwork_loss_surface.ipynb",
                                         "03_dqn_loss_surface.ipynb"]
    for english in ENGLISH:
        assert translate.korean_path(english).exists(), f"notebooks/ko/{english.name} is missing"


@pytest.mark.parametrize("english", ENGLISH, ids=lambda p: p.name)
def test_korean_notebook_is_in_step_with_the_english(english):
    problems = translate.check([english])
    assert not problems, "the Korean edition is out of step:\n- " + "\n- ".join(problems)


@pytest.mark.parametrize("english", ENGLISH, ids=lambda p: p.name)
def test_a_changed_english_cell_makes_its_translation_stale(english):
    en, ko, blocks = _load(english)
    cell = _first_markdown(en)
    cell.source += "\n\nOne more English sentence."
    problems = translate.translation_problems(en, blocks, english.name)
    assert len(problems) == 1 and "stale" in problems[0] and cell.id in problems[0], problems


@pytest.mark.parametrize("english", ENGLISH, ids=lambda p: p.name)
def test_a_missing_or_untranslated_block_is_reported(english):
    en, ko, blocks = _load(english)
    cell = _first_markdown(en)
    missing = {k: v for k, v in blocks.items() if k != cell.id}
    assert any("no translation" in p for p in translate.translation_problems(en, missing, english.name))
    english_text = dict(blocks, **{cell.id: (translate.english_hash(cell.source), cell.source)})
    assert any("untranslated" in p for p in translate.translation_problems(en, english_text, english.name))


@pytest.mark.parametrize("english", ENGLISH, ids=lambda p: p.name)
def test_a_korean_output_or_code_that_differs_from_the_english_is_reported(english):
    en, ko, blocks = _load(english)
    assert not translate.sync_problems(en, ko, blocks, english.name)
    code = next(i for i, c in enumerate(ko.cells) if c.cell_type == "code" and c.outputs)
    changed = copy.deepcopy(ko)
    changed.cells[code].outputs = changed.cells[code].outputs[:-1] + [nbformat.v4.new_output("stream", name="stdout", text="0.5\n")]
    assert any("outputs differs" in p for p in translate.sync_problems(en, changed, blocks, english.name))
    changed = copy.deepcopy(ko)
    changed.cells[code].source += "\nx = 1"
    assert any("source differs" in p for p in translate.sync_problems(en, changed, blocks, english.name))
    changed = copy.deepcopy(ko)
    md = next(i for i, c in enumerate(changed.cells) if c.cell_type == "markdown")
    changed.cells[md].source += " 수정"
    assert any("not the translation file's block" in p for p in translate.sync_problems(en, changed, blocks, english.name))


def test_translation_file_format_errors_name_the_problem():
    with pytest.raises(ValueError, match="two blocks"):
        translate.parse("<!-- cell a · en 000000000000 -->\n가\n<!-- cell a · en 000000000000 -->\n나\n")
    with pytest.raises(ValueError, match="before the first"):
        translate.parse("stray text\n<!-- cell a · en 000000000000 -->\n가\n")
    blocks = translate.parse("<!-- cell a · en 0123456789ab -->\n가나다\n\n<!-- cell b · en 0123456789ab -->\n라\n")
    assert blocks == {"a": ("0123456789ab", "가나다"), "b": ("0123456789ab", "라")}
    assert translate.parse(translate.render(blocks)) == blocks


def avoided_terms() -> dict[str, str]:
    """``{word the series does not use: the series' term}`` from the glossary's tables."""
    avoid = {}
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[3] and cells[3] != "쓰지 않는 말" and not set(cells[3]) <= set("-: "):
            for word in cells[3].split(","):
                avoid[word.strip()] = cells[1]
    return avoid


def korean_texts() -> dict[str, str]:
    """Every Korean text of the series but the glossary: the notebooks' markdown (English and Korean
    editions), the cheat sheet, the Korean README and teacher documents, the translation files."""
    texts = {}
    for path in sorted((ROOT / "notebooks").rglob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        texts[str(path.relative_to(ROOT))] = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for path in [ROOT / "README.ko.md", ROOT / "docs" / "cheatsheet_ko.md", *sorted((ROOT / "docs" / "ko").glob("*.md")),
                 *sorted((ROOT / "translations" / "ko").glob("*.md"))]:
        if path.exists() and path != GLOSSARY:
            texts[str(path.relative_to(ROOT))] = path.read_text(encoding="utf-8")
    return texts


def test_the_glossary_lists_the_terms_the_cold_read_found_confused():
    avoid = avoided_terms()
    for word, use in {"기울기 폭주": "그래디언트 폭발", "기울기 제한": "그래디언트 클리핑", "과도한 이동": "오버슈팅",
                      "부패 속도": "감쇠율"}.items():
        assert avoid.get(word) == use, f"{word} should point to {use} in the glossary"


def test_korean_text_uses_one_name_per_concept():
    avoid = avoided_terms()
    found = []
    for name, text in korean_texts().items():
        for word, use in avoid.items():
            for m in re.finditer(re.escape(word), text):
                line = text.count("\n", 0, m.start()) + 1
                found.append(f"{name}:{line}: '{word}' (the glossary's term is '{use}')")
    assert not found, "terms the glossary does not use:\n- " + "\n- ".join(found)


def test_a_planted_avoided_term_is_found():
    avoid = avoided_terms()
    assert "기울기 폭주" in avoid
    assert any(w in "v1은 기울기 폭주로 망가진다" for w in avoid)


def test_readme_links_the_korean_edition():
    head = "\n".join((ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:8])
    assert "README.ko.md" in head, "README.md should link README.ko.md at its top"
    ko = (ROOT / "README.ko.md").read_text(encoding="utf-8")
    for english in ENGLISH:
        assert f"notebooks/ko/{english.name}" in ko


def test_korean_robustness_summary_is_made_from_the_english_one():
    robustness_ko = load_script("robustness_ko")
    english = (ROOT / "docs" / "robustness.md").read_text(encoding="utf-8")
    assert (ROOT / "docs" / "ko" / "robustness.md").read_text(encoding="utf-8") == robustness_ko.render(english), \
        "docs/ko/robustness.md is stale: run `python scripts/robustness_ko.py`"
    flipped = english.replace("| shown | shown | shown | shown | 3 of 3 |", "| shown | shown | shown | **not shown** | 2 of 3 |", 1)
    assert "**not shown**" in robustness_ko.render(flipped).split("| # |")[1]
