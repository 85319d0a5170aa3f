"""Regenerate docs/robustness.md: does each verdict of the series hold on other seeds and on other CPU arithmetic?

    python scripts/robustness.py                              # every notebook: seed sets +1 and +2, generic kernels
    python scripts/robustness.py --notebooks 02 --shifts 1    # one notebook, one seed set; other sections kept
    python scripts/robustness.py --capabilities default avx2 --shifts   # CPU kernels only, no seed sets
    python scripts/robustness.py --resume                     # keep reruns already measured on the same code
    python scripts/robustness.py --dry-run                    # list the reruns, run nothing

Each notebook is rerun through the main job, ``scripts/run_series.py <notebook> ... --out
runs/robustness/<stem>/<rerun>``, in two ways:
- **other seed sets** (``--shifts``, default 1 and 2): every parameter of the notebook's ``parameters``
  cell whose name contains ``SEED`` (``SEED``, ``SEEDS``, ...) is shifted by k (``SEED = 0`` -> ``1``,
  ``SEEDS = (0, 1, 2)`` -> ``(1, 2, 3)``), on the reference arithmetic (``LOSSURF_ARITHMETIC=reference``);
- **other CPU kernels** (``--capabilities``, default ``default``, PyTorch's generic ones): the seeds as
  committed, ``ATEN_CPU_CAPABILITY=<capability>`` with ``LOSSURF_ARITHMETIC=native`` (so ``import lossurf``
  keeps it instead of pinning AVX2; ``lossurf/arithmetic.py``), and every other variable the reference pins
  (MKL, oneDNN, threads) at its reference value, so only the kernels change.

Every committed verdict is paired with the rerun's by its claim (``lossurf.report.verdict_pairs``: the
name before `` — ``, or an older line with its numbers masked, else its place). It **held** on a rerun
when the rerun printed it with the same status (``shown`` / ``not shown``); a verdict the rerun did not
print, and every verdict of a rerun that crashed, did not. The file is rewritten after every rerun, so an
interrupted run keeps what finished; ``--notebooks`` rewrites those notebooks' sections only.
"""
from __future__ import annotations

import argparse
import ast
import datetime as dt
import hashlib
import importlib.util
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))                             # this checkout's lossurf, not another installed copy
sys.path.insert(0, str(Path(__file__).resolve().parent))
import answer_key as ak                                   # noqa: E402  (scripts/ is not a package)
from run_series import literal, notebook_verdicts, parameters_cell   # noqa: E402

DOC = ROOT / "docs" / "robustness.md"
RUNS = Path("runs") / "robustness"
TAG = "robustness"                                        # the section markers: <!-- robustness <stem> reruns: ... -->
ARITHMETIC_ENV = ("ATEN_", "MKL_", "ONEDNN_", "DNNL_", "OMP_", "LOSSURF_")   # what decides the last bits
KERNELS = "import lossurf, torch; print(torch.backends.cpu.get_cpu_capability())"
ENVIRON = dict(os.environ)      # as the user set it: importing lossurf here (for the verdicts) pins os.environ


# ------------------------------------------------------------------------------------------ seeds

def _names(target) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for t in target.elts for n in _names(t)]
    return []


def _seed_value(name: str, node, where: str):
    """The literal value of seed parameter ``name``: an int or a tuple/list of ints, the forms a shift applies to."""
    text = ast.unparse(node) if node is not None else "(no value)"
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError):
        raise ValueError(f"{where}: {name} = {text} is not a literal, so its seeds cannot be shifted; write it "
                         f"as a number or a tuple of numbers in the parameters cell") from None
    ints = lambda v: isinstance(v, int) and not isinstance(v, bool)
    if ints(value) or (isinstance(value, (tuple, list)) and value and all(ints(v) for v in value)):
        return value
    raise ValueError(f"{where}: {name} = {text} is not a seed (an int, or a tuple or list of ints), so it "
                     f"cannot be shifted; rename the parameter if it is not a seed")


def seed_parameters(source: str, where: str = "notebook") -> dict:
    """Every parameter a parameters cell's ``source`` assigns whose name contains ``SEED`` (any case), with
    its value, in order: found by parsing the cell, so a notebook's new seed parameter is shifted too."""
    seeds: dict = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets, value = [node.target], node.value if isinstance(node, ast.AnnAssign) else None
        else:
            continue
        for target in targets:
            for name in _names(target):
                if "SEED" not in name.upper():
                    continue
                if not isinstance(target, ast.Name) or value is None:
                    raise ValueError(f"{where}: {name} is assigned by `{ast.unparse(node)}`, which robustness.py "
                                     f"cannot shift; give it a line of its own, `{name} = <seed>`")
                seeds[name] = _seed_value(name, value, where)
    return seeds


def shifted(name: str, value, k: int):
    """``value`` with every seed in it shifted by ``k``, of the same type; a negative seed is an error."""
    new = value + k if isinstance(value, int) else type(value)(v + k for v in value)
    lowest = min(value) if isinstance(value, (tuple, list)) else value
    if lowest + k < 0:
        fix = "use a positive shift" if lowest == 0 else f"use a shift of at least {-lowest}"
        raise ValueError(f"{name} = {value!r} shifted by {k} gives {new!r}: seeds must be >= 0 (numpy's and "
                         f"gymnasium's seeding reject negative ones); {fix}")
    return new


def seed_overrides(nb, k: int, where: str) -> dict:
    """The ``--set`` values that shift every seed parameter of ``nb`` by ``k``."""
    i = parameters_cell(nb)
    if i is None:
        raise ValueError(f"{where} has no code cell tagged 'parameters', so its seeds cannot be found; tag the "
                         f"cell that assigns SEED, or rerun it on other kernels only (--shifts with no value)")
    source = ak.cell_text(nb["cells"][i])
    seeds = seed_parameters(source, where)
    if not seeds:
        raise ValueError(f"{where}: its parameters cell assigns no name containing SEED, so there is nothing to "
                         f"shift; rerun it on other kernels only (--shifts with no value)")
    return {name: shifted(name, value, k) for name, value in seeds.items()}


# ------------------------------------------------------------------------------------------ reruns

def reference_pins() -> dict[str, str]:
    """``lossurf.arithmetic.PINS``, read from its file: importing the package would import torch (3 s)."""
    spec = importlib.util.spec_from_file_location("_lossurf_arithmetic", ROOT / "lossurf" / "arithmetic.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module                     # its dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return dict(module.PINS)


def capability_env(capability: str) -> dict[str, str]:
    """The variables of a rerun on PyTorch's ``capability`` kernels, everything else at the reference."""
    return {**reference_pins(), "ATEN_CPU_CAPABILITY": capability, "LOSSURF_ARITHMETIC": "native"}


@dataclass
class Rerun:
    name: str                        # "seeds+1", "cpu-default": its column and its folder
    what: str                        # what differs from the committed run
    env: dict                        # variables set on top of the inherited environment
    command: list[str] = field(default_factory=list)
    verdicts: list[str] | None = None
    seconds: float | None = None
    load: float | None = None
    when: str | None = None
    commit: str | None = None
    kernels: str | None = None       # the CPU capability torch reports under this rerun's environment
    inherited: dict | None = None    # arithmetic variables the rerun inherited and did not set
    niceness: int | None = None
    failed: str | None = None        # the error's last lines, when the rerun crashed
    source: str | None = None        # code_sha of what it ran

    FIELDS = ("verdicts", "seconds", "load", "when", "commit", "kernels", "inherited", "niceness", "failed", "source")

    def shell(self) -> str:
        """The exact command, its environment first, as a shell line."""
        return " ".join([f"{k}={shlex.quote(v)}" for k, v in self.env.items()] + [shlex.join(self.command)])

    def record(self) -> str:
        """The measurement as an HTML comment (invisible on GitHub), read back by ``--resume``."""
        data = {"shell": self.shell(), **{k: getattr(self, k) for k in self.FIELDS}}
        return "<!-- robustness-record " + json.dumps(data, ensure_ascii=False).replace("--", "\\u002d\\u002d") + " -->"


def plan(nb, notebook: Path, shifts: list[int], capabilities: list[str], runs_dir: Path = RUNS) -> list[Rerun]:
    """The reruns of one notebook: one per seed shift, then one per CPU capability."""
    out = []
    for k in shifts:
        seeds = seed_overrides(nb, k, notebook.name)
        args = [a for name, v in seeds.items() for a in ("--set", f"{name}={literal(v)}")]
        what = ", ".join(f"{name} = {literal(v)}" for name, v in seeds.items())
        out.append(_rerun(f"seeds{k:+d}", what, {"LOSSURF_ARITHMETIC": "reference"}, args, notebook, runs_dir))
    for cap in capabilities:
        out.append(_rerun(f"cpu-{cap}", f"PyTorch's {cap} CPU kernels (ATEN_CPU_CAPABILITY={cap})",
                          capability_env(cap), [], notebook, runs_dir))
    return out


def _rerun(name: str, what: str, env: dict, args: list[str], notebook: Path, runs_dir: Path) -> Rerun:
    out = (runs_dir / notebook.stem / name).as_posix()
    return Rerun(name, what, env, ["python", "scripts/run_series.py", ak._rel(notebook), *args, "--out", out])


def code_sha(notebook: Path) -> str:
    """sha1 over what a rerun runs: the notebook, the package and the runner; a change to any makes it stale."""
    h = hashlib.sha1(Path(notebook).read_bytes())
    for path in sorted((ROOT / "lossurf").rglob("*.py")) + [ROOT / "scripts" / "run_series.py"]:
        h.update(path.relative_to(ROOT).as_posix().encode() + path.read_bytes())
    return h.hexdigest()


def git_commit(notebook: Path) -> str:
    """The commit checked out, and whether the notebook, the package or the runner differ from it."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=False).stdout.strip() or "no git commit"
    dirty = subprocess.run(["git", "status", "--porcelain", "--", ak._rel(notebook), "lossurf",
                            "scripts/run_series.py"], cwd=ROOT, capture_output=True, text=True, check=False).stdout
    return head + (" plus uncommitted changes" if dirty.strip() else "")


def kernels(env: dict) -> str:
    """The CPU capability torch runs under ``env``, asked of a fresh process that imports lossurf first, as a notebook does."""
    done = subprocess.run([sys.executable, "-c", KERNELS], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else f"unknown ({ak.error_summary(done.stderr, 1)})"


def run(r: Rerun, notebook: Path, timeout: int | None = None) -> Rerun:
    """Execute one rerun through scripts/run_series.py; record what it printed, how long it took and where it ran."""
    env = {**ENVIRON, "LOSSURF_PROGRESS": "0", **r.env}
    r.inherited = {k: v for k, v in sorted(ENVIRON.items()) if k.startswith(ARITHMETIC_ENV) and k not in r.env}
    r.niceness = os.nice(0)
    r.commit = git_commit(notebook)
    r.kernels = kernels(env)
    r.load = os.getloadavg()[0]
    r.when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cmd = [sys.executable, *r.command[1:]] + (["--timeout", str(timeout)] if timeout else [])
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    r.seconds = time.perf_counter() - t
    r.verdicts = ak.verdict_lines(done.stdout)
    if done.returncode != 0:
        r.failed = ak.error_summary(done.stderr) or ak.error_summary(done.stdout) or f"exit status {done.returncode}"
    return r


def records(lines: list[str]) -> dict[str, dict]:
    """Measured reruns in an existing section, by their shell line."""
    out = {}
    for line in lines:
        if line.startswith("<!-- robustness-record "):
            data = json.loads(line[len("<!-- robustness-record "):-len(" -->")])
            out[data["shell"]] = data
    return out


# --------------------------------------------------------------------------------------- outcomes

@dataclass(frozen=True)
class Outcome:
    """A committed verdict on one rerun: the table's cell, whether it held, and the line the rerun printed."""
    cell: str
    held: bool
    line: str | None


def outcomes(committed: list[str], r: Rerun) -> tuple[list[Outcome | None], list[str]]:
    """Each committed verdict's outcome on ``r`` (None while ``r`` has not run), and the verdicts only ``r`` printed."""
    from lossurf.report import verdict_pairs, verdict_status

    if r.seconds is None:
        return [None] * len(committed), []
    pairs = verdict_pairs(committed, r.verdicts or [])
    out = []
    for p in (p for p in pairs if p.committed is not None):
        if p.rerun is None:
            out.append(Outcome("crashed" if r.failed else "missing", False, None))
            continue
        status = verdict_status(p.rerun)
        cell = status + (" (paired by position)" if p.by_position else "") + (" (then crashed)" if r.failed else "")
        out.append(Outcome(cell, status == verdict_status(p.committed) and not r.failed, p.rerun))
    return out, [p.rerun for p in pairs if p.committed is None]


def _md(line: str) -> str:
    """A printed line as markdown text: its asterisks (θ*) literal, not emphasis."""
    return line.replace("*", "\\*")


def percent(x: int, y: int) -> str:
    return f"{100 * x / y:.1f}%" if y else "—"


def summary(committed: list[str], results: list[list[Outcome | None]]) -> str:
    """Verdicts unchanged in X of Y (percent), over the reruns that ran."""
    done = [col for col in results if col and col[0] is not None]
    if not committed:
        return "_The committed notebook prints no verdict line: nothing to compare._"
    if not done:
        return "_No rerun has finished yet._"
    held = sum(o.held for col in done for o in col)
    total = len(committed) * len(done)
    always = sum(all(col[i].held for col in done) for i in range(len(committed)))
    waiting = len(results) - len(done)
    return (f"**Verdicts unchanged in {held} of {total} ({percent(held, total)})**: {len(committed)} verdicts on "
            f"{len(done)} reruns; {always} of {len(committed)} verdicts held on every rerun"
            + (f" ({waiting} rerun{'s' if waiting > 1 else ''} not run yet)." if waiting else "."))


# --------------------------------------------------------------------------------------- rendering

def verdict_rows(committed: list[str], reruns: list[Rerun], results: list[list[Outcome | None]]) -> list[str]:
    """The table: each committed verdict, its committed status, its status on every rerun, and on how many it held."""
    from lossurf.report import verdict_status

    rows = ["| # | verdict of the committed notebook | committed | " + " | ".join(r.name for r in reruns) + " | held on |",
            "|---:|---|---|" + "---|" * len(reruns) + "---|"]
    for i, line in enumerate(committed):
        cells = [results[c][i] for c in range(len(reruns))]
        shown = ["not run" if o is None else o.cell if o.held else f"**{o.cell}**" for o in cells]
        ran = [o for o in cells if o is not None]
        held = f"{sum(o.held for o in ran)} of {len(ran)}" if ran else "—"
        rows.append(f"| {i + 1} | {ak._cell(_md(line))} | {verdict_status(line)} | {' | '.join(shown)} | {held} |")
    return rows


def details(committed: list[str], reruns: list[Rerun], results, extras: list[list[str]]) -> list[str]:
    """What each rerun printed where a verdict did not hold, the reruns that crashed (once each, not per
    verdict), and the verdicts only a rerun printed."""
    lines = []
    for i, line in enumerate(committed):
        misses = [(r, col[i]) for r, col in zip(reruns, results)
                  if col[i] is not None and not col[i].held and not r.failed]
        if misses:
            lines += [f"- **{i + 1}.** {_md(line)}"]
            lines += [f"  - {r.name}: {_md(o.line) if o.line else o.cell}" for r, o in misses]
    if lines:
        lines = ["Where a verdict did not hold, what the rerun printed instead:", ""] + lines + [""]
    crashed = [r.name for r, col in zip(reruns, results) if r.failed and col and col[0] is not None]
    if crashed:
        lines += [f"{', '.join(crashed)} crashed: none of {'its' if len(crashed) == 1 else 'their'} verdicts "
                  f"count as held (the error is under Reruns).", ""]
    only = [f"- {r.name}: {_md(line)}" for r, mine in zip(reruns, extras) for line in mine]
    if only:
        lines += ["Printed only by a rerun (no committed verdict pairs with it):", ""] + only + [""]
    return lines


def _commit(commit: str | None) -> str:
    """A ``git_commit`` answer as markdown: the hash in a code span, the rest as words."""
    head, _, rest = (commit or "unknown").partition(" ")
    return f"`{head}`" + (f" {rest}" if rest else "")


def rerun_lines(r: Rerun) -> list[str]:
    """One rerun: what it changes, its exact command, and where and how long it ran (or that it has not yet)."""
    lines = [f"- **{r.name}**: {r.what}", f"  - command: `{r.shell()}`"]
    if r.seconds is None:
        return lines + ["  - _not run yet_"]
    inherited = ", ".join(f"{k}={v}" for k, v in (r.inherited or {}).items()) or "none"
    lines.append(f"  - ran {r.when}: wall time {r.seconds:.0f} s, load average {r.load:.1f} at its start on "
                 f"{os.cpu_count()} cores, niceness {r.niceness}; commit {_commit(r.commit)}; PyTorch kernels "
                 f"{r.kernels}; arithmetic variables inherited: {inherited}")
    if r.failed:
        lines += ["  - it **crashed**:", "", "    ```", *[f"    {ln}" for ln in r.failed.splitlines()], "    ```"]
    return lines


def render_section(notebook: Path, committed: list[str], reruns: list[Rerun]) -> list[str]:
    """One notebook's block: summary, verdict table, what did not hold, the reruns, their records."""
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    results, extras = zip(*(outcomes(committed, r) for r in reruns)) if reruns else ((), ())
    lines = [f"Generated {when} from `{ak._rel(notebook)}` as of commit {_commit(git_commit(notebook))}; the reruns are in "
             f"`{RUNS.as_posix()}/{notebook.stem}/<rerun>/` (not committed).", "", summary(committed, list(results)), ""]
    if committed:
        lines += verdict_rows(committed, reruns, list(results)) + [""]
        lines += details(committed, reruns, list(results), list(extras))
    lines += ["Reruns:", ""]
    for r in reruns:
        lines += rerun_lines(r)
    lines += [""] + [r.record() for r in reruns if r.seconds is not None]
    return lines


INTRO = """Every verdict the notebooks print (`shown: …` / `not shown with these settings: …`) comes from one run: one set of
seeds, on the reference arithmetic. Here each notebook is rerun through the main job (`scripts/run_series.py`)
with every seed parameter of its `parameters` cell shifted (`SEED` → `SEED + k`, `SEEDS` → each `+ k`), and on
other PyTorch CPU kernels (`ATEN_CPU_CAPABILITY`, with `LOSSURF_ARITHMETIC=native` so that `import lossurf`
keeps it; MKL, oneDNN and the threads stay at the reference), one change per rerun. A verdict **held** on a
rerun when the rerun printed the same claim with the same status (`shown` stays `shown`, `not shown` stays
`not shown`), whatever its numbers; a verdict the rerun did not print, and every verdict of a rerun that
crashed, did not hold. Verdicts are paired by the claim they name (the text before ` — `), an older line by its
text with the numbers masked, and where neither pairs by its place (the table says "paired by position").
Generated, do not edit by hand; regenerate from the repository root:"""


def render(notebooks: list[Path], blocks: dict[str, list[str]], docs: Path) -> str:
    """The whole file: the introduction, then one section per notebook (its kept or new block)."""
    import nbformat

    lines = ["# Robustness of the verdicts — other seeds, other CPU kernels", "", INTRO, "",
             "```bash", "python scripts/robustness.py                   # every notebook: seed sets +1, +2 and generic kernels",
             "python scripts/robustness.py --notebooks 02     # one notebook; the others' sections are kept",
             "python scripts/robustness.py --resume           # keep reruns already measured on the same code",
             "python scripts/robustness.py --dry-run          # list the commands only", "```", "",
             "The answer key ([`answer_key.md`](answer_key.md)) reruns each \"Try it yourself\" item the same way.", ""]
    for notebook in notebooks:
        if not notebook.is_file():
            continue
        nb = nbformat.read(notebook, as_version=4)
        link = Path(os.path.relpath(notebook.resolve(), docs.resolve())).as_posix()
        nn = ak.notebook_number(notebook)
        lines += [f"## {ak.notebook_title(nb, notebook)}", "", f"Notebook: [`{ak._rel(notebook)}`]({link})", "",
                  ak.begin(notebook.stem, TAG)]
        lines += blocks.get(notebook.stem) or [f"_Not generated yet: `python scripts/robustness.py --notebooks {nn}`._"]
        lines += [ak.end(notebook.stem, TAG), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


# -------------------------------------------------------------------------------------------- main

def arguments(argv=None):
    ap = argparse.ArgumentParser(description="Rerun the notebooks on other seeds and CPU kernels; write docs/robustness.md.")
    ap.add_argument("--notebooks", nargs="+", metavar="NN", help="only these notebooks (01, 02_qnetwork..., or a path)")
    ap.add_argument("--shifts", nargs="*", type=int, default=[1, 2], metavar="K",
                    help="seed sets: every seed parameter + K (default 1 2; none: no seed reruns)")
    ap.add_argument("--capabilities", nargs="*", default=["default"], metavar="CAP",
                    help="ATEN_CPU_CAPABILITY values to rerun on (default: default, the generic kernels; none: no such reruns)")
    ap.add_argument("--dry-run", action="store_true", help="list the reruns, run nothing, write nothing")
    ap.add_argument("--doc", default=str(DOC), help="the file to write (default docs/robustness.md)")
    ap.add_argument("--notebook-dir", default=str(ROOT / "notebooks"), help="where the notebooks are (default notebooks/)")
    ap.add_argument("--runs", default=str(RUNS), help="where the reruns go (default runs/robustness)")
    ap.add_argument("--resume", action="store_true", help="keep reruns the file already holds for the same command and code")
    ap.add_argument("--timeout", type=int, help="seconds per cell, passed to run_series.py (its default: 1800)")
    args = ap.parse_args(argv)
    if 0 in args.shifts:
        ap.error("--shifts 0 is the committed run itself: give shifts other than 0")
    if not args.shifts and not args.capabilities:
        ap.error("nothing to rerun: give --shifts or --capabilities a value")
    args.shifts = list(dict.fromkeys(args.shifts))
    args.capabilities = list(dict.fromkeys(args.capabilities))
    return args


def plans(args) -> tuple[list[Path], dict[Path, tuple[list[str], list[Rerun]]]]:
    """Every notebook the file covers, and for the chosen ones their committed verdicts and reruns."""
    import nbformat

    notebook_dir = Path(args.notebook_dir).resolve()
    chosen = ak.select(args.notebooks, notebook_dir)
    out = {}
    for notebook in chosen:
        nb = nbformat.read(notebook, as_version=4)
        try:
            out[notebook] = (notebook_verdicts(nb), plan(nb, notebook, args.shifts, args.capabilities, Path(args.runs)))
        except ValueError as err:
            raise SystemExit(str(err)) from None
    return sorted(set(ak.listed(notebook_dir)) | set(chosen)), out


def main(argv=None) -> int:
    args = arguments(argv)
    every, chosen = plans(args)
    for notebook, (committed, reruns) in chosen.items():
        print(f"{notebook.name}: {len(committed)} verdicts, {len(reruns)} reruns", flush=True)
        for r in reruns:
            print(f"  {r.name}: {r.shell()}", flush=True)
    if args.dry_run:
        return 0
    doc = Path(args.doc)
    blocks = ak.kept_blocks(doc.read_text(), TAG) if doc.is_file() else {}
    for notebook, (committed, reruns) in chosen.items():
        sha = code_sha(notebook)
        kept = records(blocks.get(notebook.stem, [])) if args.resume else {}
        for r in reruns:
            old = kept.get(r.shell())
            if old and old.get("source") == sha and old.get("seconds") is not None:
                for k in Rerun.FIELDS:
                    setattr(r, k, old.get(k))
        write(doc, every, notebook, committed, reruns)
        for r in reruns:
            if r.seconds is not None:
                print(f"{notebook.stem} {r.name}: kept from {r.when}", flush=True)
                continue
            print(f"{notebook.stem} {r.name}: {r.what} ...", flush=True)
            r.source = sha
            run(r, notebook, args.timeout)
            print(f"  {ak.rounded(r.seconds)}, {len(r.verdicts)} verdicts" + (", CRASHED" if r.failed else ""), flush=True)
            write(doc, every, notebook, committed, reruns)
        results = [outcomes(committed, r)[0] for r in reruns]
        print(f"{notebook.stem}: {summary(committed, results)}", flush=True)
    print(f"wrote {ak._rel(doc)}", flush=True)
    return 0


def write(doc: Path, every: list[Path], notebook: Path, committed: list[str], reruns: list[Rerun]) -> None:
    """Rewrite ``doc`` with this notebook's section as it stands; the other sections as the file holds them."""
    block = render_section(notebook, committed, reruns)
    ak.rewrite(doc, {notebook.stem: block}, lambda current: render(every, current, doc.parent), TAG)
    if doc.resolve() == DOC.resolve():                  # the Korean summary follows the English file
        import robustness_ko
        robustness_ko.main()


if __name__ == "__main__":
    sys.exit(main())
