"""Plain-text tables with rounded numbers, so stored notebook outputs stay stable and readable; the
verdict lines the notebooks print, read back."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass


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


_OLD_PREFIX = re.compile(r"^(?:shown:|not shown[^:]*:)\s*")
_NUMBER_LIST = re.compile(r"#(?:[\s,]+#)+")           # "at steps #, #, #": as many numbers as the run had


def pairing_key(line: str) -> str:
    """What a verdict is paired by across runs: its claim's name (``verdict_key``); for a line in the older
    format, the line without its prefix, a ``not shown`` line cut at ``", because"``, with every number (and
    every list of numbers) masked, so a rerun that measured other numbers still pairs with it."""
    key = verdict_key(line)
    if key is not None:
        return key
    from .notebook_checks import mask                # notebook_checks imports this module

    text = _OLD_PREFIX.sub("", line, count=1)
    if verdict_status(line) == "not shown":
        text = text.split(", because", 1)[0]
    return _NUMBER_LIST.sub("#", mask(text))


@dataclass(frozen=True)
class VerdictPair:
    """A committed verdict and the rerun's verdict for the same claim; ``None`` on the side that did not print it."""
    committed: str | None
    rerun: str | None
    by_position: bool = False      # older-format lines no key matched, paired by their place between matched neighbours


def _keys(lines: list[str]) -> list[tuple[str, int]]:
    """Each line's pairing key with its occurrence number, so a key printed twice pairs first with first."""
    seen: dict[str, int] = {}
    out = []
    for line in lines:
        key = pairing_key(line)
        out.append((key, seen.get(key, 0)))
        seen[key] = seen.get(key, 0) + 1
    return out


def _by_position(match: dict[int, int], committed: list[str], rerun: list[str]) -> dict[int, int]:
    """Pair the older-format committed verdicts no key matched with the unmatched older-format rerun verdicts
    in the same gap between key-matched neighbours, in order. A line naming its claim never pairs by place
    (another name is another claim), and a reordered neighbourhood leaves an empty gap."""
    old = lambda line: verdict_key(line) is None
    used, out, i = set(match.values()), {}, 0
    while i < len(committed):
        if i in match:
            i += 1
            continue
        start = i
        while i < len(committed) and i not in match:
            i += 1
        lo = match[start - 1] if start > 0 else -1
        hi = match[i] if i < len(committed) else len(rerun)
        free = [j for j in range(lo + 1, hi) if j not in used and old(rerun[j])]
        for a, j in zip((a for a in range(start, i) if old(committed[a])), free):
            out[a] = j
            used.add(j)
    return out


def verdict_pairs(committed: list[str], rerun: list[str]) -> list[VerdictPair]:
    """Pair a rerun's verdict lines with the committed notebook's by ``pairing_key``, not by position, so a
    rerun that prints one verdict fewer or in another order still compares like with like. Older-format
    lines no key pairs are paired by position within their gap (``by_position``); the rest stand alone.
    In committed order; a verdict only the rerun printed comes after its nearest paired predecessor."""
    rerun_at = {k: j for j, k in enumerate(_keys(rerun))}
    match = {i: rerun_at[k] for i, k in enumerate(_keys(committed)) if k in rerun_at}
    positional = _by_position(match, committed, rerun)
    pairs = {**match, **positional}
    owner = {j: i for i, j in pairs.items()}
    rows = [((i, 0, 0), VerdictPair(line, rerun[pairs[i]] if i in pairs else None, i in positional))
            for i, line in enumerate(committed)]
    for j, line in enumerate(rerun):
        if j not in owner:
            nearest = max((p for p in range(j) if p in owner), default=None)
            before = -1 if nearest is None else owner[nearest]
            rows.append(((before, 1, j), VerdictPair(None, line)))
    return [pair for _, pair in sorted(rows, key=lambda row: row[0])]


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
