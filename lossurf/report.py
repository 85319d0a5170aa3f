"""Plain-text tables with rounded numbers, so stored notebook outputs stay stable and readable; the
verdict lines the notebooks print, read back."""
from __future__ import annotations

import math


def fmt(v, digits: int = 3) -> str:
    """A number rounded for printing: fixed decimals, scientific when very large or small, 'nan'/'inf'."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "yes" if v else "no"
    v = float(v)
    if not math.isfinite(v):
        return str(v)
    if v != 0 and (abs(v) >= 1e5 or abs(v) < 10 ** -digits):
        return f"{v:.{max(digits - 1, 1)}e}"
    return f"{v:.{digits}f}"


def table(rows: list[dict], digits: int = 3) -> str:
    """Rows of ``{column: value}`` as an aligned text table."""
    if not rows:
        return "(empty table)"
    cols = list(rows[0])
    cells = [[fmt(r.get(c, ""), digits) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    line = lambda vals: "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(vals, widths)))
    return "\n".join([line(cols), line(["-" * w for w in widths])] + [line(r) for r in cells])


SHOWN = "shown: "
NOT_SHOWN = "not shown with these settings: "
VERDICT_PREFIXES = ("shown:", "not shown")     # the lines ``verdict`` prints start so
SEPARATOR = " — "                              # between a verdict's claim (its stable name) and its numbers


def verdict(claim: str, holds: bool, measured: str) -> str:
    """One lesson check's line: ``"shown: <claim> — <measured>"`` when it holds, else ``"not shown with
    these settings: <claim> — measured: <measured>"``. ``claim`` names the lesson and carries no numbers,
    so a rerun on other seeds or another machine can be paired with this one by it; ``measured`` states
    the numbers as they are, true in either case (never the claim's wording with numbers that contradict it)."""
    if SEPARATOR in claim or not claim.strip():
        raise ValueError(f"a verdict's claim must be a non-empty name without {SEPARATOR!r}: {claim!r}")
    return f"{SHOWN}{claim}{SEPARATOR}{measured}" if holds else f"{NOT_SHOWN}{claim}{SEPARATOR}measured: {measured}"


def verdict_status(line: str) -> str:
    """``"shown"`` or ``"not shown"``."""
    return "shown" if line.startswith("shown:") else "not shown"


def verdict_key(line: str) -> str | None:
    """The claim a verdict line names (the text between its prefix and ``" — "``), the same whether it
    was shown or not; ``None`` for a line in an older format without the separator."""
    for prefix in (SHOWN, NOT_SHOWN):
        if line.startswith(prefix) and SEPARATOR in line:
            return line[len(prefix):].split(SEPARATOR, 1)[0].strip()
    return None


def verdict_lines(text: str) -> list[str]:
    """The verdict lines of printed text (lines starting with ``shown:`` or ``not shown``), in order,
    without trailing whitespace."""
    return [ln.rstrip() for ln in text.splitlines() if ln.startswith(VERDICT_PREFIXES)]


def notebook_verdicts(nb) -> list[str]:
    """The verdict lines a notebook's cells printed (their stream outputs), in order; ``nb`` as
    ``nbformat`` or ``json`` reads it."""
    lines = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                text = out.get("text", "")
                lines += verdict_lines("".join(text) if isinstance(text, list) else text)
    return lines
