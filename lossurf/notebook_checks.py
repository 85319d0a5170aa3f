"""Lesson mode: compare a notebook rerun on other arithmetic with the committed one by what does not depend on rounding.

Strict nbval compares every printed digit, which only the reference arithmetic reproduces
(``lossurf.arithmetic``). On any other machine a rerun is checked here instead, cell by cell:
- the output types of each cell (stream, figure, table, ...), and their MIME types;
- each output's text with every number masked (white space folded, so a table's column widths do not count);
- exact counts that the parameters alone decide: "237 steps", "25 checkpoints", "18 runs";
- the verdict statuses, position by position: every verdict the committed notebook printed must print again,
  with the same status ("shown:" stays "shown:"). A flipped verdict fails the check, whatever else agrees.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .report import VERDICT_PREFIXES, verdict_lines, verdict_status as status

NUMBER = re.compile(r"(?:(?<![\w.])|(?<=\bx))[-+−]?(?:\d[\d,]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?%?|\b(?:nan|inf|NaN|Inf)\b")
# integers the parameters fix, whatever the rounding: kept exact
COUNT = re.compile(r"(?<![\w.,])(\d[\d,]*) (steps|updates|checkpoints|runs)\b")





def mask(text: str) -> str:
    """``text`` with every number replaced by ``#`` and runs of white space folded to one space."""
    return " ".join(NUMBER.sub("#", text).split())


def counts(text: str) -> list[str]:
    """The exact counts in ``text`` ("237 steps", "25 checkpoints", ...), in order."""
    return [f"{n} {what}" for n, what in COUNT.findall(text)]


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else (value or "")


@dataclass(frozen=True)
class Output:
    """One output as lesson mode sees it: its kind, and its text (stream text, or a display's ``text/plain``)."""
    kind: str
    text: str


def outputs(cell) -> list[Output]:
    """A code cell's outputs, consecutive stream chunks of one stream joined (how a stream is cut into chunks
    depends on timing, not on the lesson). Errors keep their exception name."""
    out: list[Output] = []
    for o in cell.get("outputs", []):
        t = o.get("output_type")
        if t == "stream":
            kind = f"stream:{o.get('name', 'stdout')}"
            if out and out[-1].kind == kind:
                out[-1] = Output(kind, out[-1].text + _text(o.get("text")))
                continue
            out.append(Output(kind, _text(o.get("text"))))
        elif t == "error":
            out.append(Output(f"error:{o.get('ename', '')}", o.get("evalue", "")))
        else:
            data = o.get("data", {})
            out.append(Output(f"{'display' if t == 'display_data' else t}:{','.join(sorted(data))}",
                              _text(data.get("text/plain"))))
    return out


def _code_cells(nb) -> list:
    return [c for c in nb["cells"] if c.get("cell_type") == "code" and "injected-parameters"
            not in c.get("metadata", {}).get("tags", [])]


def compare(committed, rerun) -> list[str]:
    """Every way ``rerun`` differs from ``committed`` in what does not depend on rounding; empty when the
    lessons hold. Each entry names the cell (its number among the code cells, from 1) and what differs."""
    problems: list[str] = []
    old_cells, new_cells = _code_cells(committed), _code_cells(rerun)
    if len(old_cells) != len(new_cells):
        return [f"{len(new_cells)} code cells, the committed notebook has {len(old_cells)}"]
    for i, (old_cell, new_cell) in enumerate(zip(old_cells, new_cells), start=1):
        old, new = outputs(old_cell), outputs(new_cell)
        errors = [o for o in new if o.kind.startswith("error:")]
        if errors:
            problems.append(f"cell {i}: raised {errors[0].kind[6:]}: {errors[0].text}")
            continue
        if [o.kind for o in old] != [o.kind for o in new]:
            problems.append(f"cell {i}: outputs {[o.kind for o in new]}, committed {[o.kind for o in old]}")
            continue
        for o, n in zip(old, new):
            problems += _compare_text(i, o.text, n.text)
    return problems


def _compare_text(cell: int, old: str, new: str) -> list[str]:
    """Verdict statuses position by position, then the other lines masked, then the exact counts."""
    problems = []
    old_v, new_v = verdict_lines(old), verdict_lines(new)
    if len(old_v) != len(new_v):
        problems.append(f"cell {cell}: {len(new_v)} verdicts, committed {len(old_v)}")
    for k, (o, n) in enumerate(zip(old_v, new_v), start=1):
        if status(o) != status(n):
            problems.append(f"cell {cell}: verdict {k} flipped: committed {o!r}, now {n!r}")
    rest_old = [ln for ln in old.splitlines() if not ln.startswith(VERDICT_PREFIXES)]
    rest_new = [ln for ln in new.splitlines() if not ln.startswith(VERDICT_PREFIXES)]
    masked_old, masked_new = [mask(ln) for ln in rest_old], [mask(ln) for ln in rest_new]
    if masked_old != masked_new:
        diff = next(((a, b) for a, b in zip(masked_old, masked_new) if a != b), None)
        where = (f"{diff[1]!r}, committed {diff[0]!r}" if diff else
                 f"{len(masked_new)} lines, committed {len(masked_old)}")
        problems.append(f"cell {cell}: text differs beyond its numbers: {where}")
    if counts("\n".join(rest_old)) != counts("\n".join(rest_new)):
        problems.append(f"cell {cell}: counts {counts(chr(10).join(rest_new))}, committed "
                        f"{counts(chr(10).join(rest_old))}")
    return problems
