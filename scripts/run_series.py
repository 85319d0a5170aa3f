"""Run the whole series headless: execute every notebook in order and write the README's figures.

    python scripts/run_series.py                       # re-execute notebooks/ in place, figures to img/
    python scripts/run_series.py --clip-norm none --lr 0.05 --out runs/noclip
                                                       # other settings: copies in runs/noclip/, never
                                                       # touching the committed notebooks
    python scripts/run_series.py notebooks/03_dqn_loss_surface.ipynb --set "SEEDS=(3, 4)" --out runs/seeds34

Any parameter assigned in a notebook's ``parameters`` cell can be overridden with ``--set NAME=VALUE``.
VALUE is read as a Python literal (``None``, ``3``, ``0.5``, ``True``, ``"step"``, ``(3, 4)``, ``[1, 2]``);
anything that is not a literal is taken as a string (``--set LR_SCHEDULE=step``). The values are written
as ``NAME = <repr(value)>`` lines into a cell tagged ``injected-parameters`` right after the
``parameters`` cell (papermill's convention, without papermill's translator, which turns tuples into
strings), and the notebook is executed with nbclient. A name that no selected notebook's parameters
cell assigns is an error that lists the valid names; a name that only some of them assign is set
where it exists.

After each notebook the runner prints the notebook's verdict lines (outputs starting with ``shown:``
or ``not shown``). A figure goes to ``img/`` when its cell carries a tag ``img:<name>``.

Where the CPU has AVX2 the kernels run on the reference arithmetic that the committed outputs were made with
(``lossurf/arithmetic.py``; the runner prints which), so a rerun with the committed settings reproduces them.
"""
from __future__ import annotations

import argparse
import ast
import base64
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def notebook_verdicts(nb) -> list[str]:
    """``lossurf.report.notebook_verdicts``, imported when first needed: importing lossurf imports torch
    (3 s), which ``--help`` and a wrong ``--set`` should not wait for."""
    from lossurf.report import notebook_verdicts as verdicts

    return verdicts(nb)


def figures(nb, img_dir: Path) -> list[Path]:
    """Write the first PNG output of every cell tagged ``img:<name>`` to ``img_dir/<name>.png``."""
    written = []
    for cell in nb.cells:
        names = [t[4:] for t in cell.get("metadata", {}).get("tags", []) if t.startswith("img:")]
        if not names:
            continue
        pngs = [o["data"]["image/png"] for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
        if not pngs:
            raise RuntimeError(f"cell tagged img:{names[0]} produced no figure")
        img_dir.mkdir(parents=True, exist_ok=True)
        path = img_dir / f"{names[0]}.png"
        path.write_bytes(base64.b64decode(pngs[0]))
        written.append(path)
    return written


# ---------------------------------------------------------------------------------------- parameters

def parse_value(text: str):
    """``--set`` VALUE as a Python literal (None, int, float, bool, str, tuple, list, dict), else the string itself."""
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def literal(value) -> str:
    """Python source for ``value``; ``repr`` except for non-finite floats, which have no literal."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    return repr(value)


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def parameters_cell(nb) -> int | None:
    """Index of the cell tagged ``parameters``, or None."""
    for i, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") == "code" and "parameters" in _tags(cell):
            return i
    return None


def parameter_names(nb) -> list[str]:
    """Names assigned at top level of the ``parameters`` cell, in order (``A = 1``, ``A: int = 1``, ``A = B = 1``, ``A, B = 1, 2``)."""
    i = parameters_cell(nb)
    if i is None:
        return []
    source = nb["cells"][i]["source"]
    source = "".join(source) if isinstance(source, list) else source
    names: list[str] = []

    def add(target):
        if isinstance(target, ast.Name):
            names.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                add(t)

    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                add(target)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            add(node.target)
    return list(dict.fromkeys(names))


def inject(nb, params: dict, name: str = "notebook"):
    """Put ``NAME = <repr(value)>`` lines in a cell tagged ``injected-parameters`` right after the
    ``parameters`` cell (replacing an earlier injected cell). Raises ``ValueError`` naming the valid
    parameters when a name is not assigned in the parameters cell."""
    import nbformat

    if not params:
        return nb
    valid = parameter_names(nb)
    unknown = [k for k in params if k not in valid]
    if parameters_cell(nb) is None:
        raise ValueError(f"{name} has no cell tagged 'parameters', so {', '.join(params)} cannot be set")
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: not a parameter of {name}; its parameters are "
                         f"{', '.join(valid)}")
    nb["cells"] = [c for c in nb["cells"] if "injected-parameters" not in _tags(c)]
    lines = ["# Parameters (injected by scripts/run_series.py)"]
    lines += [f"{key} = {literal(value)}" for key, value in params.items()]
    cell = nbformat.v4.new_code_cell("\n".join(lines) + "\n", metadata={"tags": ["injected-parameters"]})
    if (nb.get("nbformat", 4), nb.get("nbformat_minor", 0)) < (4, 5):
        cell.pop("id", None)                      # cell ids exist from nbformat 4.5 on
    nb["cells"].insert(parameters_cell(nb) + 1, cell)
    return nb


def overrides(args) -> dict:
    out = {}
    if args.clip_norm is not None:
        out["CLIP_NORM"] = None if args.clip_norm.lower() == "none" else float(args.clip_norm)
    if args.lr is not None:
        out["LR"] = args.lr
    if args.lr_schedule is not None:
        out["LR_SCHEDULE"] = args.lr_schedule
    if args.seed is not None:
        out["SEED"] = args.seed
    for item in args.set or []:
        key, eq, value = item.partition("=")
        key = key.strip()
        if not key or not eq or not key.isidentifier():
            raise SystemExit(f"--set expects NAME=VALUE, got {item!r}")
        out[key] = parse_value(value)
    return out


def per_notebook(paths: list[Path], params: dict) -> dict[Path, dict]:
    """The overrides each notebook gets. A name no notebook assigns is an error listing the valid names;
    a name only some notebooks assign is set there (and the others are told)."""
    import nbformat

    names = {p: parameter_names(nbformat.read(p, as_version=4)) for p in paths}
    missing = [k for k in params if not any(k in n for n in names.values())]
    if missing:
        valid = "\n".join(f"  {p.name}: {', '.join(n) or '(no parameters cell)'}" for p, n in names.items())
        raise SystemExit(f"--set {', '.join(missing)}: not a parameter of "
                         f"{'this notebook' if len(paths) == 1 else 'any of these notebooks'}. Valid parameters:\n{valid}")
    out = {}
    for p in paths:
        out[p] = {k: v for k, v in params.items() if k in names[p]}
        skipped = [k for k in params if k not in names[p]]
        if skipped:
            print(f"{p.name}: {', '.join(skipped)} not a parameter here, not set", flush=True)
    return out


# ------------------------------------------------------------------------------------------- running

def execute(nb, cwd: Path, timeout: int):
    """Execute ``nb`` in place with nbclient (working directory ``cwd``); no run metadata kept."""
    from nbclient import NotebookClient

    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(cwd)}}).execute()
    finally:
        for cell in nb.cells:                          # keep stored outputs free of run metadata
            cell.get("metadata", {}).pop("execution", None)
    return nb


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Execute the lossurf notebooks and write the README figures.")
    ap.add_argument("notebooks", nargs="*", help="notebooks to run (default: every notebooks/*.ipynb, in order)")
    ap.add_argument("--clip-norm", help="gradient clipping threshold, or 'none'")
    ap.add_argument("--lr", type=float, help="learning rate")
    ap.add_argument("--lr-schedule", help="constant | step | exponential | plateau | cosine | decay_floor")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--set", action="append", metavar="NAME=VALUE",
                    help='any parameter of the parameters cell, as a Python literal: GRID=51, "SEEDS=(3, 4)", '
                         'CLIP_NORM=None, LR_SCHEDULE=step (not a literal: taken as a string)')
    ap.add_argument("--out", help="output folder for rerun copies (default with overrides: runs/custom)")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = ap.parse_args(argv)

    os.environ["LOSSURF_PROGRESS"] = "0"          # no progress bars in stored outputs
    sys.path.insert(0, str(ROOT))
    # the kernels import this checkout's lossurf too, not another copy an editable install points at (another work tree)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    from lossurf import arithmetic                 # pins the reference arithmetic here, so every kernel inherits it
    mode = arithmetic.current()
    print(f"arithmetic: {mode.reason}" + (" (set LOSSURF_ARITHMETIC=native for this machine's own)"
                                         if mode.pins else ""), flush=True)
    import nbformat
    from nbclient.exceptions import CellExecutionError

    paths = [Path(p) for p in args.notebooks] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for p in paths:
        if not p.is_file():
            raise SystemExit(f"no such notebook: {p}")
    params = overrides(args)
    out_dir = Path(args.out) if args.out else (ROOT / "runs" / "custom" if params else None)
    if out_dir is not None and out_dir.resolve() == (ROOT / "notebooks").resolve():
        raise SystemExit("--out must not be notebooks/: reruns with other settings never overwrite the committed notebooks")
    settings = per_notebook(paths, params)
    for path in paths:
        t = time.perf_counter()
        nb = nbformat.read(path, as_version=4)
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            target, img_dir = out_dir / path.name, out_dir / "img"
            inject(nb, settings[path], path.name)
        else:
            target, img_dir = path, ROOT / "img"
        img_dir.mkdir(parents=True, exist_ok=True)
        os.environ["LOSSURF_IMG_DIR"] = str(img_dir.resolve())   # where a notebook writes what is not a cell's PNG (GIFs)
        try:
            execute(nb, path.parent.resolve(), args.timeout)
        except CellExecutionError as err:
            if out_dir is not None:                   # keep the failed copy to read; never a half-run committed notebook
                nbformat.write(nb, target)
            print("\n".join(notebook_verdicts(nb)), flush=True)
            print(f"{path.name}: failed after {time.perf_counter() - t:.0f} s"
                  + (f" (partial copy: {target})" if out_dir is not None else ""), flush=True)
            print(str(err)[-4000:], file=sys.stderr)
            return 1
        nbformat.write(nb, target)
        written = figures(nb, img_dir)
        for line in notebook_verdicts(nb):
            print(line, flush=True)
        size = target.stat().st_size / 2**20
        print(f"{path.name}: {time.perf_counter() - t:.0f} s, {size:.1f} MB, "
              f"{len(written)} figures -> {written[0].parent if written else '-'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
