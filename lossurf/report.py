"""Plain-text tables with rounded numbers, so stored notebook outputs stay stable and readable."""
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
