"""Run the whole series headless: execute every notebook in order and write the README's figures.

    python scripts/run_series.py                       # re-execute notebooks/ in place, figures to img/
    python scripts/run_series.py --clip-norm none --lr 0.05 --out runs/noclip
                                                       # other settings: copies in runs/noclip/, never
                                                       # touching the committed notebooks

Overrides are injected into each notebook's ``parameters`` cell with papermill. A figure goes to
``img/`` when its cell carries a tag ``img:<name>``.
"""
from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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
        key, _, value = item.partition("=")
        if not key or not _:
            raise SystemExit(f"--set expects NAME=VALUE, got {item!r}")
        import ast
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description="Execute the lossurf notebooks and write the README figures.")
    ap.add_argument("notebooks", nargs="*", help="notebooks to run (default: every notebooks/*.ipynb, in order)")
    ap.add_argument("--clip-norm", help="gradient clipping threshold, or 'none'")
    ap.add_argument("--lr", type=float, help="learning rate")
    ap.add_argument("--lr-schedule", help="constant | step | exponential | plateau | cosine | decay_floor")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--set", action="append", metavar="NAME=VALUE", help="any other parameter, e.g. GRID=51")
    ap.add_argument("--out", help="output folder for rerun copies (required with overrides; default runs/custom)")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    args = ap.parse_args()

    os.environ["LOSSURF_PROGRESS"] = "0"          # no progress bars in stored outputs
    import nbformat
    from nbclient import NotebookClient

    paths = [Path(p) for p in args.notebooks] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    params = overrides(args)
    out_dir = Path(args.out) if args.out else (ROOT / "runs" / "custom" if params else None)
    if out_dir is not None and out_dir.resolve() == (ROOT / "notebooks").resolve():
        raise SystemExit("--out must not be notebooks/: reruns with other settings never overwrite the committed notebooks")
    for path in paths:
        t = time.perf_counter()
        if params or out_dir is not None:
            import papermill as pm
            out_dir.mkdir(parents=True, exist_ok=True)
            target = out_dir / path.name
            pm.execute_notebook(str(path), str(target), parameters=params, cwd=str(path.parent),
                                progress_bar=False, kernel_name="python3", execution_timeout=args.timeout)
            nb = nbformat.read(target, as_version=4)
            written = figures(nb, out_dir / "img")
        else:
            nb = nbformat.read(path, as_version=4)
            NotebookClient(nb, timeout=args.timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
            for cell in nb.cells:                     # keep stored outputs free of run metadata
                cell.get("metadata", {}).pop("execution", None)
            nbformat.write(nb, path)
            target = path
            written = figures(nb, ROOT / "img")
        size = target.stat().st_size / 2**20
        print(f"{path.name}: {time.perf_counter() - t:.0f} s, {size:.1f} MB, "
              f"{len(written)} figures -> {written[0].parent if written else '-'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
